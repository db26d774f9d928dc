/* The native response parser: llparse's state plus what the glue needs to write events for one execute() call.
 * Everything the grammar's C callbacks share with the N-API binding lives in this one struct. */
#ifndef GW_PARSER_H_
#define GW_PARSER_H_

#include <stddef.h>
#include <stdint.h>

#include "gw_constants.h"
#include "gw_resp.h"

/* Span slots: a span that ended in the current buffer, waiting for the callback that completes it. */
enum { GW_SLOT_REASON = 0, GW_SLOT_NAME = 1, GW_SLOT_VALUE = 2, GW_SLOTS = 3 };

typedef struct gw_parser_s {
  gw_resp_t llp; /* must stay first: callbacks receive a gw_resp_t* and cast it back */

  /* Event output: record 0 is the call header, records 1..ev_cap(+headroom) are events. */
  int32_t* ev;
  uint32_t ev_cap;
  uint32_t ev_count;

  /* The buffer of the current call: offsets in events are relative to `base`. */
  const unsigned char* base;
  const unsigned char* end;
  uint64_t base_abs; /* stream offset of base[0] */
  uint64_t total;    /* stream bytes seen before the current buffer */

  /* Size limit of the head, of a chunk-size line, and of the trailer section. */
  uint64_t region_start;
  uint32_t max_head;
  uint8_t region_active;

  uint8_t skip_body;   /* set by reset(): the request was HEAD */
  uint8_t in_progress; /* a response started (first byte seen) and its final message is not complete */
  uint8_t suppress;    /* current message is a 1xx (not 101): emit nothing for it */
  uint8_t head_done;   /* framing decided for the current message */
  uint8_t keep_alive;  /* computed at head end */
  uint8_t upgraded;
  uint8_t closed;      /* finish() completed a close-delimited body */

  uint64_t cl_header; /* value of the first Content-Length header (F_CONTENT_LENGTH set) */

  int32_t slot_off[GW_SLOTS];
  int32_t slot_len[GW_SLOTS]; /* -1 = empty */
  uint8_t slot_split[GW_SLOTS]; /* a *_PIECE of the current span was already emitted */
} gw_parser_t;

void gw_parser_init(gw_parser_t* g, int32_t* ev, uint32_t ev_cap, uint32_t max_head);
void gw_parser_reset(gw_parser_t* g, int skip_body);
/* Runs the grammar over data[off, len). fresh = data is a new read (not a resume after PAUSE_FULL).
 * Returns 0, GW_PAUSE_FULL, GW_PAUSE_UPGRADE or an error code; ev[0] = events written, ev[1] = stop offset. */
int gw_parser_execute(gw_parser_t* g, const unsigned char* data, size_t len, size_t off, int fresh);
/* The stream ended. Returns 0 (nothing in progress), -1 (a close-delimited body just completed) or an error. */
int gw_parser_finish(gw_parser_t* g);

#endif /* GW_PARSER_H_ */
