#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "supervisor.h"

/*
 * The job's interfaces, set up by its init from inside its network namespace
 * while it still has CAP_NET_ADMIN there. Plain ioctls on an AF_INET socket:
 * they act in the namespace the socket was made in, the job's.
 */

static int set_up(int s, const char *name) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) return -errno;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  return ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

static void put_in(struct sockaddr *sa, struct in_addr addr) {
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr = addr;
  memcpy(sa, &sin, sizeof sin);
}

int loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  int r = set_up(s, "lo");
  close(s);
  return r;
}

static int fail(int err, char *msg, size_t len, const char *what, const char *value) {
  snprintf(msg, len, "configure eth0: %s%s%s", what, value[0] ? " " : "", value);
  return err;
}

int eth0_configure(const struct job_spec *spec, char *err, size_t errlen) {
  struct in_addr address, gateway, mask;
  char cidr[48];
  snprintf(cidr, sizeof cidr, "%s/%d", spec->eth0_address, spec->eth0_prefix);
  if (inet_pton(AF_INET, spec->eth0_address, &address) != 1 || spec->eth0_prefix < 1 || spec->eth0_prefix > 32)
    return fail(-EINVAL, err, errlen, "address", cidr);
  if (inet_pton(AF_INET, spec->eth0_gateway, &gateway) != 1) return fail(-EINVAL, err, errlen, "gateway", spec->eth0_gateway);
  mask.s_addr = htonl(spec->eth0_prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> spec->eth0_prefix));

  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return fail(-errno, err, errlen, "open a socket", "");
  int r = 0;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "eth0");
  /* Address and mask while eth0 is down, so that bringing it up adds the
   * connected route with the right prefix; the default route needs that route
   * to reach its gateway. */
  put_in(&ifr.ifr_addr, address);
  if (ioctl(s, SIOCSIFADDR, &ifr) < 0) r = fail(-errno, err, errlen, "set address", cidr);
  put_in(&ifr.ifr_netmask, mask);
  if (!r && ioctl(s, SIOCSIFNETMASK, &ifr) < 0) r = fail(-errno, err, errlen, "set netmask of", cidr);
  if (!r && (r = set_up(s, "eth0")) < 0) fail(r, err, errlen, "bring up", "eth0");
  if (!r) {
    struct rtentry route;
    memset(&route, 0, sizeof route);
    put_in(&route.rt_dst, (struct in_addr){0});
    put_in(&route.rt_genmask, (struct in_addr){0});
    put_in(&route.rt_gateway, gateway);
    route.rt_flags = RTF_UP | RTF_GATEWAY;
    route.rt_dev = ifr.ifr_name;
    if (ioctl(s, SIOCADDRT, &route) < 0) r = fail(-errno, err, errlen, "add default route via", spec->eth0_gateway);
  }
  close(s);
  return r;
}
