{
  "targets": [
    {
      "target_name": "joblet",
      "sources": ["addon/binding/addon.cc", "addon/binding/network.cc", "addon/binding/netlink.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"]
    },
    {
      "target_name": "joblet-supervisor",
      "type": "executable",
      "sources": [
        "addon/supervisor/main.c",
        "addon/supervisor/forkserver.c",
        "addon/supervisor/spec.c",
        "addon/supervisor/rootfs.c",
        "addon/supervisor/jobinit.c",
        "addon/supervisor/netif.c",
        "addon/supervisor/seccomp.c",
        "addon/supervisor/privileges.c",
        "addon/supervisor/logs.c",
        "addon/supervisor/cgroups.c",
        "addon/supervisor/util.c",
        "addon/supervisor/seed.c"
      ],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-static"]
    }
  ]
}
