/**
 * `td-token cert`: where the login server's certificate is (made now if missing), and how to
 * make a browser trust it.
 *
 * @internal
 * @module
 */
import { ensureCertificate } from '../../login/cert.js';
import { certDir } from '../../paths.js';
import { shellQuote } from '../format.js';
import type { CliIO, CommandArgs, CommandSpec } from '../io.js';
import { EXIT, say } from '../io.js';

export const spec: CommandSpec = {
  name: 'cert',
  summary:
    "Show where the login server's certificate is (making it if missing) and how to trust it.",
  usage: 'td-token cert [flags]',
  options: {},
  help: `Prints the certificate's path on stdout and, on stderr, the key's path and how to make browsers
trust the certificate so the login page opens without a warning. The certificate is
self-signed for localhost, 127.0.0.1 and ::1, kept in the config folder (key mode 0600), and
made again when it nears its end.

To use your own certificate instead (mkcert's, say):
  mkcert -install && mkcert -cert-file cert.pem -key-file key.pem localhost 127.0.0.1 ::1
  td-token login --cert cert.pem --key key.pem

exit codes: 0 shown; 1 failed; 2 usage or configuration.`,
};

function trustSteps(certPath: string, platform: NodeJS.Platform): string[] {
  const q = shellQuote(certPath);
  switch (platform) {
    case 'darwin':
      return [
        'macOS (Safari, Chrome):',
        `  sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${q}`,
        'Firefox: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import',
      ];
    case 'win32':
      return [
        'Windows (Edge, Chrome), for your user only:',
        `  certutil -user -addstore Root ${q}`,
        'Firefox: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import',
      ];
    default:
      return [
        'Linux, Chrome and Chromium (NSS database; needs libnss3-tools):',
        `  certutil -d sql:$HOME/.pki/nssdb -A -t "P,," -n td-token-localhost -i ${q}`,
        'Linux, system-wide (curl, wget; Debian and Ubuntu):',
        `  sudo cp ${q} /usr/local/share/ca-certificates/td-token-localhost.crt && sudo update-ca-certificates`,
        'Firefox: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import',
        'Node programs: export NODE_EXTRA_CA_CERTS=' + q,
      ];
  }
}

export async function run(io: CliIO, _args: CommandArgs): Promise<number> {
  const files = await ensureCertificate(certDir(io.env));
  io.stdout.write(`${files.certPath}\n`);
  say(
    io,
    files.created ? `made a new certificate: ${files.certPath}` : `certificate: ${files.certPath}`,
  );
  say(io, `key:         ${files.keyPath} (keep it private)`);
  say(io, '');
  say(
    io,
    'the login server uses it for https://localhost and https://127.0.0.1. browsers warn about',
  );
  say(
    io,
    'it until you trust it; the login also works if you accept the warning once. to trust it:',
  );
  for (const line of trustSteps(files.certPath, process.platform)) say(io, `  ${line}`);
  say(io, '');
  say(io, 'or use your own (mkcert): td-token login --cert cert.pem --key key.pem');
  return EXIT.ok;
}
