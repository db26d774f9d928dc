# Builds the response parser addon: llparse's generated C (generated/, from `npm run build:parser`)
# plus the hand-written framing callbacks and N-API glue (native/). Output: build/Release/gw_resp.node.
{
  'targets': [
    {
      'target_name': 'gw_resp',
      'sources': [
        'generated/gw_resp.c',
        'native/gw-framing.c',
        'native/gw-binding.c',
      ],
      'include_dirs': ['generated', 'native'],
      'defines': ['NAPI_VERSION=8'],
      'cflags': ['-O3', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter', '-Wno-unused-label'],
      'cflags!': ['-O2', '-O0'],
      'xcode_settings': {
        'GCC_OPTIMIZATION_LEVEL': '3',
        'OTHER_CFLAGS': ['-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter', '-Wno-unused-label'],
      },
      'conditions': [
        # x86-64-v2 (SSE4.2, every x86-64 CPU since 2009-2011): llparse vectorises the header loops with it.
        ['target_arch=="x64"', { 'cflags': ['-msse4.2'], 'xcode_settings': { 'OTHER_CFLAGS': ['-msse4.2'] } }],
      ],
      'msvs_settings': {
        'VCCLCompilerTool': { 'Optimization': 2 },
      },
    },
  ],
}
