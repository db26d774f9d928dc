/* N-API glue of the response parser: one native call per socket read, results written into a JS-owned Int32Array.
 * No JS is called from C; the parser lives in a malloc'd struct behind an External that frees it when collected. */
#include <stdlib.h>

#include <node_api.h>

#include "gw-parser.h"

typedef struct {
  gw_parser_t parser;
  napi_ref events; /* keeps the event array (whose memory we write) alive as long as the parser */
} gw_handle_t;

#define GW_CALL(env, call)                                  \
  do {                                                      \
    if ((call) != napi_ok) {                                \
      napi_throw_error((env), NULL, "gw_resp: " #call);     \
      return NULL;                                          \
    }                                                       \
  } while (0)

static void gw_finalize(napi_env env, void* data, void* hint) {
  gw_handle_t* h = (gw_handle_t*) data;
  napi_delete_reference(env, h->events);
  free(h);
}

static napi_value gw_int(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

static gw_handle_t* gw_unwrap(napi_env env, napi_value v) {
  void* h = NULL;
  if (napi_get_value_external(env, v, &h) != napi_ok || h == NULL) {
    napi_throw_type_error(env, NULL, "gw_resp: expected a parser handle");
    return NULL;
  }
  return (gw_handle_t*) h;
}

/* create(events: Int32Array, capacity: number, maxHead: number) → External.
 * `events` must hold (1 + capacity + GW_EV_HEADROOM) records of GW_EV_STRIDE ints. */
static napi_value gw_create(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  napi_typedarray_type type;
  size_t length, byte_offset;
  void* data;
  napi_value ab;
  uint32_t cap, max_head;
  gw_handle_t* h;

  GW_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  GW_CALL(env, napi_get_typedarray_info(env, argv[0], &type, &length, &data, &ab, &byte_offset));
  GW_CALL(env, napi_get_value_uint32(env, argv[1], &cap));
  GW_CALL(env, napi_get_value_uint32(env, argv[2], &max_head));
  if (type != napi_int32_array || cap == 0 || length < (size_t) GW_EV_STRIDE * (1 + cap + GW_EV_HEADROOM)) {
    napi_throw_range_error(env, NULL, "gw_resp: event array too small for its capacity");
    return NULL;
  }
  h = (gw_handle_t*) malloc(sizeof(*h));
  if (h == NULL) {
    napi_throw_error(env, NULL, "gw_resp: out of memory");
    return NULL;
  }
  gw_parser_init(&h->parser, (int32_t*) data, cap, max_head);
  if (napi_create_reference(env, argv[0], 1, &h->events) != napi_ok) {
    free(h);
    napi_throw_error(env, NULL, "gw_resp: napi_create_reference");
    return NULL;
  }
  if (napi_create_external(env, h, gw_finalize, NULL, &out) != napi_ok) {
    napi_delete_reference(env, h->events);
    free(h);
    napi_throw_error(env, NULL, "gw_resp: napi_create_external");
    return NULL;
  }
  return out;
}

/* execute(handle, chunk: Uint8Array, offset: number, fresh: boolean) → status code
 * (0, PAUSE.FULL, PAUSE.UPGRADE or an error); events and the stop offset are in the array. */
static napi_value gw_execute(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  gw_handle_t* h;
  void* data;
  size_t len;
  uint32_t off;
  bool fresh;

  GW_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if ((h = gw_unwrap(env, argv[0])) == NULL) return NULL;
  GW_CALL(env, napi_get_buffer_info(env, argv[1], &data, &len));
  GW_CALL(env, napi_get_value_uint32(env, argv[2], &off));
  GW_CALL(env, napi_get_value_bool(env, argv[3], &fresh));
  if (off > len || len > INT32_MAX) {
    napi_throw_range_error(env, NULL, "gw_resp: offset out of range");
    return NULL;
  }
  return gw_int(env, gw_parser_execute(&h->parser, (const unsigned char*) data, len, off, fresh));
}

/* reset(handle, skipBody: boolean) */
static napi_value gw_reset(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  gw_handle_t* h;
  bool skip;
  GW_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if ((h = gw_unwrap(env, argv[0])) == NULL) return NULL;
  GW_CALL(env, napi_get_value_bool(env, argv[1], &skip));
  gw_parser_reset(&h->parser, skip);
  return NULL;
}

/* finish(handle) → 0 (nothing in progress), -1 (close-delimited body complete), or an error code */
static napi_value gw_finish(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  gw_handle_t* h;
  GW_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if ((h = gw_unwrap(env, argv[0])) == NULL) return NULL;
  return gw_int(env, gw_parser_finish(&h->parser));
}

/* setMaxHead(handle, bytes: number) */
static napi_value gw_set_max_head(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  gw_handle_t* h;
  uint32_t max_head;
  GW_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if ((h = gw_unwrap(env, argv[0])) == NULL) return NULL;
  GW_CALL(env, napi_get_value_uint32(env, argv[1], &max_head));
  h->parser.max_head = max_head;
  return NULL;
}

/* reason(handle) → the grammar's text for the current error, or null when it has none */
static napi_value gw_reason(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  gw_handle_t* h;
  GW_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if ((h = gw_unwrap(env, argv[0])) == NULL) return NULL;
  if (h->parser.llp.error == 0 || h->parser.llp.reason == NULL) {
    GW_CALL(env, napi_get_null(env, &out));
  } else {
    GW_CALL(env, napi_create_string_utf8(env, h->parser.llp.reason, NAPI_AUTO_LENGTH, &out));
  }
  return out;
}

static napi_value gw_init_module(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "create", NULL, gw_create, NULL, NULL, NULL, napi_enumerable, NULL },
    { "execute", NULL, gw_execute, NULL, NULL, NULL, napi_enumerable, NULL },
    { "reset", NULL, gw_reset, NULL, NULL, NULL, napi_enumerable, NULL },
    { "finish", NULL, gw_finish, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setMaxHead", NULL, gw_set_max_head, NULL, NULL, NULL, napi_enumerable, NULL },
    { "reason", NULL, gw_reason, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  GW_CALL(env, napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, gw_init_module)
