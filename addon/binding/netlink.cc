#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <map>

namespace rtnl {
namespace {

// One netlink request, built in place: header, fixed part, attributes.
// Small fixed buffer: no request of ours comes near it.
class Request {
 public:
  Request(uint16_t type, uint16_t flags) {
    memset(buf_, 0, sizeof buf_);
    hdr()->nlmsg_len = NLMSG_LENGTH(0);
    hdr()->nlmsg_type = type;
    hdr()->nlmsg_flags = NLM_F_REQUEST | flags;
  }

  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf_); }

  // NLM_F_DUMP shares bits with NLM_F_EXCL and NLM_F_REPLACE: it means a dump only on a GET.
  bool dump() { return (hdr()->nlmsg_type & 3) == 2 && (hdr()->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP; }

  // The fixed part after the header (ifinfomsg, ifaddrmsg), zeroed.
  template <typename T>
  T* Fixed() {
    return static_cast<T*>(Append(sizeof(T)));
  }

  void Attr(uint16_t type, const void* data, size_t len) {
    auto* rta = static_cast<rtattr*>(Append(RTA_LENGTH(len)));
    rta->rta_type = type;
    rta->rta_len = RTA_LENGTH(len);
    memcpy(RTA_DATA(rta), data, len);
  }
  void Attr(uint16_t type, const std::string& text) { Attr(type, text.c_str(), text.size() + 1); }
  void Attr(uint16_t type, uint32_t value) { Attr(type, &value, sizeof value); }

  // Attributes added until End(offset) are nested in this one.
  size_t Begin(uint16_t type) {
    size_t offset = hdr()->nlmsg_len;
    auto* rta = static_cast<rtattr*>(Append(RTA_LENGTH(0)));
    rta->rta_type = type;
    return offset;
  }
  void End(size_t offset) {
    reinterpret_cast<rtattr*>(buf_ + offset)->rta_len = (unsigned short)(hdr()->nlmsg_len - offset);
  }

 private:
  void* Append(size_t len) {
    size_t at = NLMSG_ALIGN(hdr()->nlmsg_len);
    hdr()->nlmsg_len = (uint32_t)(at + NLMSG_ALIGN(len));
    return buf_ + at;
  }

  alignas(NLMSG_ALIGNTO) char buf_[1024];
};

// Attributes of one message (or one nest), by type; later ones win.
std::map<int, const rtattr*> Attrs(const rtattr* rta, int len) {
  std::map<int, const rtattr*> found;
  for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) found[rta->rta_type & NLA_TYPE_MASK] = rta;
  return found;
}

std::string AttrString(const rtattr* rta) {
  return std::string(static_cast<const char*>(RTA_DATA(rta)), strnlen(static_cast<const char*>(RTA_DATA(rta)), RTA_PAYLOAD(rta)));
}

class Socket {
 public:
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }

  int Open() {
    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd_ < 0) return -errno;
    // Short acks, with the kernel's reason for a refusal when it gives one.
    int on = 1;
    setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
    setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
    // The kernel always answers; should it not, fail the call rather than hang the daemon.
    timeval limit = {10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    return 0;
  }

  // Send req (acked, or a dump) and hand every reply message to on_message
  // until the ack or the end of the dump. 0 or the kernel's -errno.
  int Call(Request& req, const std::function<void(const nlmsghdr*)>& on_message = nullptr) {
    nlmsghdr* hdr = req.hdr();
    if (!req.dump()) hdr->nlmsg_flags |= NLM_F_ACK;
    hdr->nlmsg_seq = ++seq_;
    reason_.clear();
    sockaddr_nl kernel = {};
    kernel.nl_family = AF_NETLINK;
    ssize_t n;
    do n = sendto(fd_, hdr, hdr->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
    while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    std::vector<char> buf(65536);
    for (;;) {
      do n = recv(fd_, buf.data(), buf.size(), 0);
      while (n < 0 && errno == EINTR);
      if (n < 0) return -errno;
      int len = (int)n;
      for (auto* msg = reinterpret_cast<const nlmsghdr*>(buf.data()); NLMSG_OK(msg, len); msg = NLMSG_NEXT(msg, len)) {
        if (msg->nlmsg_seq != seq_) continue;
        if (msg->nlmsg_type == NLMSG_DONE) return 0;
        if (msg->nlmsg_type == NLMSG_ERROR) return Ack(msg);
        if (on_message) on_message(msg);
      }
    }
  }

  // The kernel's own words for the last refusal ("" when it gave none).
  const std::string& reason() const { return reason_; }

 private:
  int Ack(const nlmsghdr* msg) {
    auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(msg));
    if (err->error == 0) return 0;
    if (msg->nlmsg_flags & NLM_F_ACK_TLVS) {
      // With NETLINK_CAP_ACK the request is not echoed: the TLVs follow the nlmsgerr.
      auto* tlv = reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(err) + NLMSG_ALIGN(sizeof *err));
      int len = (int)msg->nlmsg_len - (int)NLMSG_LENGTH(NLMSG_ALIGN(sizeof *err));
      auto attrs = Attrs(tlv, len);
      if (attrs.count(NLMSGERR_ATTR_MSG)) reason_ = AttrString(attrs[NLMSGERR_ATTR_MSG]);
    }
    return err->error;
  }

  int fd_ = -1;
  uint32_t seq_ = 0;
  std::string reason_;
};

// what, plus the kernel's reason when it gave one.
int Failed(int err, const Socket& sock, const std::string& step, std::string* what) {
  *what = sock.reason().empty() ? step : step + " (" + sock.reason() + ")";
  return err;
}

Link ParseLink(const nlmsghdr* msg, std::map<int, std::string>* names = nullptr, std::map<int, int>* masters = nullptr) {
  auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(msg));
  auto attrs = Attrs(IFLA_RTA(ifi), (int)IFLA_PAYLOAD(msg));
  Link link;
  link.index = ifi->ifi_index;
  if (attrs.count(IFLA_IFNAME)) link.name = AttrString(attrs[IFLA_IFNAME]);
  if (attrs.count(IFLA_LINKINFO)) {
    const rtattr* info = attrs[IFLA_LINKINFO];
    auto nested = Attrs(static_cast<const rtattr*>(RTA_DATA(info)), (int)RTA_PAYLOAD(info));
    if (nested.count(IFLA_INFO_KIND)) link.kind = AttrString(nested[IFLA_INFO_KIND]);
  }
  if (names) (*names)[link.index] = link.name;
  if (masters && attrs.count(IFLA_MASTER)) (*masters)[link.index] = *static_cast<const int*>(RTA_DATA(attrs[IFLA_MASTER]));
  return link;
}

// The link called name (index and kind), or -ENODEV.
int FindLink(Socket& sock, const std::string& name, Link* link) {
  Request req(RTM_GETLINK, 0);
  req.Fixed<ifinfomsg>()->ifi_family = AF_UNSPEC;
  req.Attr(IFLA_IFNAME, name);
  bool found = false;
  int err = sock.Call(req, [&](const nlmsghdr* msg) {
    if (msg->nlmsg_type != RTM_NEWLINK) return;
    *link = ParseLink(msg);
    found = true;
  });
  return err < 0 ? err : found ? 0 : -ENODEV;
}

int SetUp(Socket& sock, int index) {
  Request req(RTM_NEWLINK, 0);
  auto* ifi = req.Fixed<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  return sock.Call(req);
}

int ChangeAddress(Socket& sock, uint16_t type, int index, in_addr address, int prefix) {
  Request req(type, type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0);
  auto* ifa = req.Fixed<ifaddrmsg>();
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = (unsigned char)prefix;
  ifa->ifa_index = index;
  req.Attr(IFA_LOCAL, &address, sizeof address);
  req.Attr(IFA_ADDRESS, &address, sizeof address);
  return sock.Call(req);
}

struct Address {
  in_addr address;
  int prefix;
};

int AddressesOf(Socket& sock, int index, std::vector<Address>* out) {
  Request req(RTM_GETADDR, NLM_F_DUMP);
  req.Fixed<ifaddrmsg>()->ifa_family = AF_INET;
  return sock.Call(req, [&](const nlmsghdr* msg) {
    if (msg->nlmsg_type != RTM_NEWADDR) return;
    auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(msg));
    if ((int)ifa->ifa_index != index || ifa->ifa_family != AF_INET) return;
    auto attrs = Attrs(IFA_RTA(ifa), (int)IFA_PAYLOAD(msg));
    const rtattr* local = attrs.count(IFA_LOCAL) ? attrs[IFA_LOCAL] : attrs.count(IFA_ADDRESS) ? attrs[IFA_ADDRESS] : nullptr;
    if (!local || RTA_PAYLOAD(local) != sizeof(in_addr)) return;
    Address a;
    memcpy(&a.address, RTA_DATA(local), sizeof a.address);
    a.prefix = ifa->ifa_prefixlen;
    out->push_back(a);
  });
}

int ParseAddress(const std::string& text, int prefix, in_addr* out, std::string* what) {
  if (inet_pton(AF_INET, text.c_str(), out) != 1 || prefix < 0 || prefix > 32) {
    *what = "use address '" + text + "/" + std::to_string(prefix) + "' (not an IPv4 address and prefix length)";
    return -EINVAL;
  }
  return 0;
}

}  // namespace

int EnsureBridge(const std::string& name, const std::string& address, int prefix, std::string* what) {
  in_addr want;
  int err = ParseAddress(address, prefix, &want, what);
  if (err < 0) return err;
  Socket sock;
  if ((err = sock.Open()) < 0) return *what = "open a netlink socket", err;

  Request create(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  create.Fixed<ifinfomsg>()->ifi_family = AF_UNSPEC;
  create.Attr(IFLA_IFNAME, name);
  size_t info = create.Begin(IFLA_LINKINFO);
  create.Attr(IFLA_INFO_KIND, std::string("bridge"));
  create.End(info);
  err = sock.Call(create);
  if (err < 0 && err != -EEXIST) return Failed(err, sock, "create bridge '" + name + "'", what);

  Link link;
  if ((err = FindLink(sock, name, &link)) < 0) return Failed(err, sock, "find bridge '" + name + "'", what);
  if (link.kind != "bridge") {
    *what = "use '" + name + "' as a bridge (it is a " + (link.kind.empty() ? "device" : link.kind) + " link)";
    return -EEXIST;
  }
  std::vector<Address> current;
  if ((err = AddressesOf(sock, link.index, &current)) < 0) return Failed(err, sock, "list the addresses of '" + name + "'", what);
  bool has = false;
  for (const Address& a : current) {
    if (a.address.s_addr == want.s_addr && a.prefix == prefix) {
      has = true;
      continue;
    }
    // A bridge of ours answers for one network only: a stale address would route a block it no longer owns.
    err = ChangeAddress(sock, RTM_DELADDR, link.index, a.address, a.prefix);
    if (err < 0 && err != -EADDRNOTAVAIL) {
      char text[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &a.address, text, sizeof text);
      return Failed(err, sock, "remove address " + std::string(text) + "/" + std::to_string(a.prefix) + " from '" + name + "'", what);
    }
  }
  if (!has && (err = ChangeAddress(sock, RTM_NEWADDR, link.index, want, prefix)) < 0 && err != -EEXIST)
    return Failed(err, sock, "add address " + address + "/" + std::to_string(prefix) + " to '" + name + "'", what);
  if ((err = SetUp(sock, link.index)) < 0) return Failed(err, sock, "bring up '" + name + "'", what);
  return 0;
}

int DeleteLink(const std::string& name, std::string* what) {
  Socket sock;
  int err = sock.Open();
  if (err < 0) return *what = "open a netlink socket", err;
  Request req(RTM_DELLINK, 0);
  req.Fixed<ifinfomsg>()->ifi_family = AF_UNSPEC;
  req.Attr(IFLA_IFNAME, name);
  err = sock.Call(req);
  if (err == -ENODEV) return 0;
  if (err < 0) return Failed(err, sock, "delete link '" + name + "'", what);
  return 1;
}

int ListLinks(std::vector<Link>* links, std::string* what) {
  Socket sock;
  int err = sock.Open();
  if (err < 0) return *what = "open a netlink socket", err;
  Request req(RTM_GETLINK, NLM_F_DUMP);
  req.Fixed<ifinfomsg>()->ifi_family = AF_UNSPEC;
  std::map<int, std::string> names;
  std::map<int, int> masters;
  err = sock.Call(req, [&](const nlmsghdr* msg) {
    if (msg->nlmsg_type == RTM_NEWLINK) links->push_back(ParseLink(msg, &names, &masters));
  });
  if (err < 0) return Failed(err, sock, "list links", what);
  // Masters by name, once every link's name is known.
  for (Link& link : *links) {
    auto master = masters.find(link.index);
    if (master != masters.end()) link.master = names[master->second];
  }
  return 0;
}

int CreateVeth(const VethRequest& r, std::string* what) {
  in_addr host_address = {};
  int err;
  if (r.bridge.empty() && (err = ParseAddress(r.host_address, r.prefix, &host_address, what)) < 0) return err;
  Socket sock;
  if ((err = sock.Open()) < 0) return *what = "open a netlink socket", err;
  Link bridge;
  if (!r.bridge.empty()) {
    if ((err = FindLink(sock, r.bridge, &bridge)) < 0) return Failed(err, sock, "find bridge '" + r.bridge + "' for '" + r.host_name + "'", what);
    if (bridge.kind != "bridge") {
      *what = "attach '" + r.host_name + "' to '" + r.bridge + "' (it is not a bridge)";
      return -EINVAL;
    }
  }

  // One request: both ends, the peer born inside the job's namespace, the
  // host end already a bridge port and up.
  Request req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  auto* ifi = req.Fixed<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  req.Attr(IFLA_IFNAME, r.host_name);
  if (!r.bridge.empty()) req.Attr(IFLA_MASTER, (uint32_t)bridge.index);
  size_t info = req.Begin(IFLA_LINKINFO);
  req.Attr(IFLA_INFO_KIND, std::string("veth"));
  size_t data = req.Begin(IFLA_INFO_DATA);
  size_t peer = req.Begin(VETH_INFO_PEER);
  req.Fixed<ifinfomsg>()->ifi_family = AF_UNSPEC;
  req.Attr(IFLA_IFNAME, std::string("eth0"));
  req.Attr(IFLA_NET_NS_FD, (uint32_t)r.netns_fd);
  req.End(peer);
  req.End(data);
  req.End(info);
  if ((err = sock.Call(req)) < 0) return Failed(err, sock, "create veth '" + r.host_name + "' (peer eth0 in the job's namespace)", what);
  if (!r.bridge.empty()) return 0;

  Link host;
  if ((err = FindLink(sock, r.host_name, &host)) < 0 ||
      (err = ChangeAddress(sock, RTM_NEWADDR, host.index, host_address, r.prefix)) < 0) {
    Failed(err, sock, "add address " + r.host_address + "/" + std::to_string(r.prefix) + " to '" + r.host_name + "'", what);
    std::string ignored;
    DeleteLink(r.host_name, &ignored);
    return err;
  }
  return 0;
}

}  // namespace rtnl
