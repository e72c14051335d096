/**
 * Name rules, as Kubernetes has them. Object names become hostnames, cgroup
 * and file names, so they are kept to DNS-1123 labels; label keys and values
 * follow Kubernetes so that selectors written for it read the same here.
 */

export const DNS_LABEL_MAX = 63;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// Subdomains allow dots: runtime names carry versions ("python-3.11-ml").
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const DNS_LABEL_PATTERN = DNS_LABEL.source;
export const ENV_NAME_PATTERN = ENV_NAME.source;

/** Why `name` is not a DNS-1123 label, or undefined when it is one. */
export function dnsLabelProblem(name: string): string | undefined {
  if (name.length === 0) return "must not be empty";
  if (name.length > DNS_LABEL_MAX) return `is ${name.length} characters long (at most ${DNS_LABEL_MAX})`;
  if (!DNS_LABEL.test(name)) {
    return "must be lowercase letters, digits and '-', starting and ending with a letter or digit";
  }
  return undefined;
}

/** Like dnsLabelProblem, with dots allowed (still at most 63 characters: it is a directory name). */
export function dnsSubdomainProblem(name: string): string | undefined {
  if (name.length === 0) return "must not be empty";
  if (name.length > DNS_LABEL_MAX) return `is ${name.length} characters long (at most ${DNS_LABEL_MAX})`;
  if (!DNS_SUBDOMAIN.test(name) || name.includes("..")) {
    return "must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit";
  }
  return undefined;
}

// A runtime installed side by side with others of its name: NAME@VERSION.
const RUNTIME_VERSION = /^[0-9A-Za-z][0-9A-Za-z._+-]*$/;
export const RUNTIME_NAME_PATTERN = `^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(@[0-9A-Za-z][0-9A-Za-z._+-]*)?$`;

/**
 * Runtime names: a subdomain, optionally with '@VERSION' so that versions of
 * one runtime live side by side (python-3.11-ml@1.3.1), as the original
 * Joblet's registry installs them.
 */
export function runtimeNameProblem(name: string): string | undefined {
  const at = name.indexOf("@");
  const base = at === -1 ? name : name.slice(0, at);
  const problem = dnsSubdomainProblem(base);
  if (problem) return problem;
  if (at === -1) return undefined;
  const version = name.slice(at + 1);
  if (version.length === 0 || version.length > 63 || !RUNTIME_VERSION.test(version) || version.includes("..")) {
    return "has a version after '@' that is not letters, digits, '.', '_', '+' and '-' (at most 63, e.g. python-3.11-ml@1.3.1)";
  }
  return undefined;
}

/** Label and annotation keys: an optional DNS subdomain prefix, '/', and a name of at most 63. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return "has a prefix that is not a DNS subdomain (e.g. example.com/tier)";
  }
  if (name.length === 0 || name.length > DNS_LABEL_MAX || !LABEL_NAME.test(name)) {
    return "must be at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit";
  }
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > DNS_LABEL_MAX || !LABEL_NAME.test(value)) {
    return "must be empty or at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit";
  }
  return undefined;
}

/** Environment variable names a shell can read back. */
export function envNameProblem(name: string): string | undefined {
  return ENV_NAME.test(name) ? undefined : "is not a variable name (letters, digits and '_', not starting with a digit)";
}
