/**
 * The joblet CA and the certificates of the remote API, made with the `openssl` command
 * (no X.509 is encoded here): a CA, one server certificate and client certificates whose
 * subject carries the identity (CN) and the role (OU), as the original Joblet's do.
 *
 * Keys are ECDSA P-256. openssl prints each key on stdout and it is written here with mode
 * 0600, so no key ever sits on disk readable by others, not even for a moment.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { isIP } from "node:net";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { writeFileAtomic } from "../store/index.js";
import { ROLES, type Role } from "./rbac.js";

const run = promisify(execFile);

export const DEFAULT_DAYS = 825;
export const DEFAULT_CLIENTS: readonly ClientSpec[] = [
  { name: "admin", role: "admin" },
  { name: "operator", role: "operator" },
  { name: "viewer", role: "viewer" },
];

export interface ClientSpec {
  name: string;
  role: Role;
}

/** The files of a TLS dir, as `certs init` lays them out and `daemon --tls-dir` reads them. */
export function tlsFiles(dir: string) {
  return {
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    serverCert: join(dir, "server.crt"),
    serverKey: join(dir, "server.key"),
    clientsDir: join(dir, "clients"),
    clientCert: (name: string) => join(dir, "clients", `${name}.crt`),
    clientKey: (name: string) => join(dir, "clients", `${name}.key`),
  };
}

export interface InitOptions {
  dir: string;
  /** Extra DNS names of the server certificate (localhost and the host name are always in). */
  hosts?: string[];
  /** Extra IP addresses of the server certificate (127.0.0.1 and ::1 are always in). */
  ips?: string[];
  clients?: ClientSpec[];
  days?: number;
  /** Replace an existing CA (every certificate it signed stops being trusted). */
  force?: boolean;
}

// Client names become file names and log fields: keep them plain.
const CLIENT_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,62})$/;
const DNS_NAME = /^(\*\.)?[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$/;

/** "alice:operator" -> {name, role}; throws a sentence naming the value. */
export function parseClientSpec(value: string): ClientSpec {
  const colon = value.lastIndexOf(":");
  const name = colon === -1 ? value : value.slice(0, colon);
  const role = colon === -1 ? "" : value.slice(colon + 1);
  if (!CLIENT_NAME.test(name)) throw new Error(`Client '${value}': the name must be letters, digits, '.', '_' and '-' (at most 63), as in alice:operator`);
  if (!(ROLES as readonly string[]).includes(role)) throw new Error(`Client '${value}': the role must be one of ${ROLES.join(", ")}, as in ${name}:viewer`);
  return { name, role: role as Role };
}

/** Makes the CA, the server certificate and the clients' certificates in `dir` (mode 0700). */
export async function initCertificates(o: InitOptions): Promise<string[]> {
  const files = tlsFiles(o.dir);
  for (const host of o.hosts ?? []) if (!DNS_NAME.test(host)) throw new Error(`Host '${host}' is not a DNS name`);
  for (const ip of o.ips ?? []) if (isIP(ip) === 0) throw new Error(`IP '${ip}' is not an IPv4 or IPv6 address`);
  const days = o.days ?? DEFAULT_DAYS;
  if (!o.force) {
    for (const path of [files.caCert, files.caKey]) {
      if (await exists(path)) throw new Error(`Cannot make a new CA: ${path} exists (pass --force to replace it; every certificate it signed stops being trusted)`);
    }
  }
  await privateDir(o.dir);
  await privateDir(files.clientsDir);
  const work = await mkdtemp(join(tmpdir(), "joblet-certs-"));
  try {
    await writeKey(files.caKey);
    const caConfig = join(work, "ca.cnf");
    await writeFile(caConfig, CA_CONFIG);
    await openssl(["req", "-x509", "-new", "-key", files.caKey, "-config", caConfig, "-extensions", "v3_ca", "-days", String(days), "-sha256", "-out", files.caCert]);
    const sans = [...new Set(["localhost", hostname(), ...(o.hosts ?? [])])].map((h) => `DNS:${h}`);
    sans.push(...[...new Set(["127.0.0.1", "::1", ...(o.ips ?? [])])].map((ip) => `IP:${ip}`));
    await issue(work, o.dir, { cert: files.serverCert, key: files.serverKey, subject: "/CN=joblet server", days, extensions: serverExtensions(sans) });
    const made = [files.caCert, files.caKey, files.serverCert, files.serverKey];
    for (const client of o.clients ?? DEFAULT_CLIENTS) made.push(...(await issueClientIn(work, o.dir, client, days)));
    return made;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Signs one more client certificate with the CA already in `dir`. */
export async function addClient(dir: string, client: ClientSpec, days = DEFAULT_DAYS): Promise<string[]> {
  const files = tlsFiles(dir);
  for (const path of [files.caCert, files.caKey]) {
    if (!(await exists(path))) throw new Error(`Cannot sign a client certificate: ${path} does not exist (make the CA first: joblet certs init --dir ${dir})`);
  }
  await privateDir(files.clientsDir);
  const work = await mkdtemp(join(tmpdir(), "joblet-certs-"));
  try {
    return await issueClientIn(work, dir, client, days);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const CA_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = joblet CA
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
`;

function serverExtensions(sans: string[]): string {
  return `basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = ${sans.join(",")}
`;
}

const CLIENT_EXTENSIONS = `basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
`;

async function issueClientIn(work: string, dir: string, client: ClientSpec, days: number): Promise<string[]> {
  const files = tlsFiles(dir);
  const cert = files.clientCert(client.name);
  const key = files.clientKey(client.name);
  await issue(work, dir, { cert, key, subject: `/CN=${client.name}/OU=${client.role}`, days, extensions: CLIENT_EXTENSIONS });
  return [cert, key];
}

interface Issue {
  cert: string;
  key: string;
  subject: string;
  days: number;
  /** An openssl extension file's default section. */
  extensions: string;
}

/** A new key and a certificate for it signed by the CA in `dir`. */
async function issue(work: string, dir: string, o: Issue): Promise<void> {
  const files = tlsFiles(dir);
  await writeKey(o.key);
  const csr = join(work, "request.csr");
  const config = join(work, "request.cnf");
  const ext = join(work, "extensions.cnf");
  await writeFile(config, "[req]\ndistinguished_name = dn\n[dn]\n");
  await writeFile(ext, o.extensions);
  await openssl(["req", "-new", "-key", o.key, "-config", config, "-subj", o.subject, "-out", csr]);
  // A random serial: `x509 -req` in OpenSSL 1.1 would otherwise need a serial file beside the CA.
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  await openssl(["x509", "-req", "-in", csr, "-CA", files.caCert, "-CAkey", files.caKey, "-set_serial", `0x${serial.toString("hex")}`, "-days", String(o.days), "-sha256", "-extfile", ext, "-out", o.cert]);
  await chmod(o.cert, 0o644);
}

async function writeKey(path: string): Promise<void> {
  const { stdout } = await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
  await writeFileAtomic(path, stdout, 0o600);
  // An existing file replaced under --force keeps no wider mode.
  await chmod(path, 0o600);
}

async function privateDir(dir: string): Promise<void> {
  // Parents made on the way keep the usual mode; only the dir itself is private.
  await mkdir(dirname(dir), { recursive: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

async function openssl(args: string[]): Promise<{ stdout: string }> {
  try {
    return await run("openssl", args, { maxBuffer: 1024 * 1024 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === "ENOENT") throw new Error("Cannot make certificates: the openssl command is not installed (apt-get install openssl)");
    const detail = (err.stderr ?? err.message).trim().split("\n")[0];
    throw new Error(`Cannot make certificates: openssl ${args[0]} failed: ${detail}`);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The certificate and key files `daemon --tls-dir` needs, read; errors name the missing file. */
export async function readServerTls(dir: string): Promise<{ ca: Buffer; cert: Buffer; key: Buffer }> {
  const files = tlsFiles(dir);
  const read = (path: string, what: string) =>
    readFile(path).catch((e: NodeJS.ErrnoException) => {
      throw new Error(`Cannot start the API server: ${what} ${path} cannot be read (${e.code ?? e.message}); make it with joblet certs init --dir ${dir}`);
    });
  return { ca: await read(files.caCert, "the CA certificate"), cert: await read(files.serverCert, "the server certificate"), key: await read(files.serverKey, "the server key") };
}
