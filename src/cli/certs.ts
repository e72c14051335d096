/**
 * `joblet certs`: the certificates of the remote API. `init` makes a CA, the daemon's server
 * certificate and client certificates with roles; `add` signs one more client with that CA.
 */
import { Command } from "commander";
import { addClient, DEFAULT_DAYS, initCertificates, parseClientSpec, type ClientSpec } from "../server/pki.js";
import { type CliIo, processIo, runVerb } from "./io.js";
import { collect } from "./options.js";

const EXAMPLE = `joblet certs init --dir /etc/joblet/tls --host joblet.example.com --ip 10.0.0.5
joblet certs init --dir ./tls --client alice:operator --client ci:viewer
joblet certs add --dir /etc/joblet/tls --client bob:admin
sudo joblet daemon --listen 0.0.0.0:8443 --tls-dir /etc/joblet/tls`;

interface InitFlags {
  dir: string;
  host?: string[];
  ip?: string[];
  client?: string[];
  days: number;
  force?: boolean;
}

export function certsCommand(io: CliIo = processIo()): Command {
  const group = new Command("certs")
    .description("Make the remote API's CA, server and client certificates (with the openssl command)")
    .configureOutput({ writeOut: (s) => void io.out.write(s), writeErr: (s) => void io.err.write(s) })
    .showHelpAfterError()
    .addHelpText("after", `\nExample:\n${EXAMPLE.replace(/^/gm, "  ")}\n`);
  group.addCommand(
    new Command("init")
      .description("Make a CA, the server certificate and client certificates (default: admin, operator and viewer) in DIR")
      .requiredOption("--dir <dir>", "where ca.crt, ca.key, server.crt, server.key and clients/NAME.{crt,key} go (mode 0700)")
      .option("--host <name>", "another DNS name of the server certificate (repeatable; localhost and this host's name are always in)", collect)
      .option("--ip <addr>", "another IP address of the server certificate (repeatable; 127.0.0.1 and ::1 are always in)", collect)
      .option("--client <name:role>", "a client certificate: CN NAME, OU ROLE (viewer, operator or admin; repeatable)", collect)
      .option("--days <n>", `validity in days (default ${DEFAULT_DAYS})`, days, DEFAULT_DAYS)
      .option("--force", "replace an existing CA (every certificate it signed stops being trusted)")
      .action((flags: InitFlags) =>
        runVerb(io, async () => {
          const clients = flags.client?.map(parseClientSpec);
          const made = await initCertificates({
            dir: flags.dir,
            hosts: flags.host ?? [],
            ips: flags.ip ?? [],
            ...(clients !== undefined ? { clients } : {}),
            days: flags.days,
            force: flags.force ?? false,
          });
          for (const file of made) io.out.write(`${file}\n`);
        }),
      ),
  );
  group.addCommand(
    new Command("add")
      .description("Sign another client certificate with the CA in DIR")
      .requiredOption("--dir <dir>", "the directory certs init made")
      .requiredOption("--client <name:role>", "CN NAME, OU ROLE (viewer, operator or admin; repeatable)", collect)
      .option("--days <n>", `validity in days (default ${DEFAULT_DAYS})`, days, DEFAULT_DAYS)
      .action((flags: { dir: string; client: string[]; days: number }) =>
        runVerb(io, async () => {
          const clients: ClientSpec[] = flags.client.map(parseClientSpec);
          for (const client of clients) for (const file of await addClient(flags.dir, client, flags.days)) io.out.write(`${file}\n`);
        }),
      ),
  );
  return group;
}

// 0 is allowed: a certificate that expires at once, for testing refusals.
function days(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--days '${value}' is not a whole number of days`);
  return n;
}
