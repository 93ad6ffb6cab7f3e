{
  "targets": [
    {
      "target_name": "rdma_ccm",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/device.cc",
        "native/context.cc",
        "native/pd.cc",
        "native/mr.cc",
        "native/backing_store.cc",
        "native/ah.cc",
        "native/srq.cc",
        "native/mw.cc",
        "native/work_request.cc",
        "native/cq.cc",
        "native/qp.cc",
        "native/cm_channel.cc",
        "native/cm_id.cc",
        "native/notify.cc",
        "native/aligned_buffer.cc",
        "native/mapped_file.cc",
        "native/reaper.cc",
        "native/fd_watch.cc",
        "native/names.cc",
        "native/enums.cc",
        "native/instruction_marker.cc",
        "native/crc32c.cc",
        "native/capabilities.cc"
      ],
      "variables": {
        "headers_ok": "<!(node install/check-headers.js)"
      },
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS", "<!@(node install/features.js)"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": ["-libverbs", "-lrdmacm"],
      "conditions": [
        ["OS!='linux'", { "sources": [] }]
      ]
    }
  ]
}
