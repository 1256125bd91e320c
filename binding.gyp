{
  "variables": {
    "asan%": 0
  },
  "targets": [
    {
      "target_name": "netfwd",
      "sources": [
        "native/addon.cc",
        "native/netlink_socket.cc",
        "native/netns.cc",
        "native/unix_datagram.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_ENABLE_TYPE_CHECK_ON_AS"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["asan==1", {
          "cflags": ["-fsanitize=address", "-fno-omit-frame-pointer", "-g", "-O1"],
          "cflags_cc": ["-fsanitize=address", "-fno-omit-frame-pointer", "-g", "-O1"],
          "ldflags": ["-fsanitize=address"]
        }]
      ]
    }
  ]
}
