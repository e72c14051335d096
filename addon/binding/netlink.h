// Links and addresses of the calling thread's network namespace, through
// rtnetlink (no ip(8), no libmnl): what job networks need on the host side.
// Every call opens its own socket, so it acts in the namespace of the thread
// that makes it, and is synchronous. Failures return -errno and describe the
// step in *what ("create bridge 'jlb0'"), for the caller's error message.
#ifndef JOBLET_NETLINK_H
#define JOBLET_NETLINK_H

#include <string>
#include <vector>

namespace rtnl {

struct Link {
  std::string name;
  int index = 0;
  std::string kind;    // IFLA_INFO_KIND ("bridge", "veth"), "" when the kernel reports none
  std::string master;  // name of the bridge it is a port of, or ""
};

// Create bridge `name` unless it exists, give it address/prefix as its only
// IPv4 address, and bring it up.
int EnsureBridge(const std::string& name, const std::string& address, int prefix, std::string* what);

// 1 when removed, 0 when there was no such link, else -errno.
int DeleteLink(const std::string& name, std::string* what);

int ListLinks(std::vector<Link>* links, std::string* what);

// A job's side of a network: a veth pair whose end `host_name` stays here and
// whose peer is created as "eth0" directly inside the namespace netns_fd.
// The host end joins `bridge` when one is named, otherwise it gets
// host_address/prefix (a point-to-point link); either way it is brought up.
// On failure nothing is left behind.
struct VethRequest {
  int netns_fd = -1;
  std::string host_name;
  std::string bridge;        // "" for point-to-point
  std::string host_address;  // with no bridge
  int prefix = 0;
};
int CreateVeth(const VethRequest& request, std::string* what);

}  // namespace rtnl

#endif
