// Certificates made at test run time with the openssl CLI (EC P-256, valid two days) in a temp dir:
// CAs, leaves signed by them and self-signed ones. Nothing secret is committed.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Pem {
  cert: string
  key: string
  certPath: string
  keyPath: string
}

export interface CertOptions {
  /** Signs the certificate; without it the certificate is self-signed. */
  issuer?: Pem
  /** DNS names for subjectAltName (a name starting with `*.` is a wildcard). */
  dns?: string[]
  ips?: string[]
  /** Makes a CA (basicConstraints CA:TRUE) instead of a leaf. */
  ca?: boolean
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

export function certDir(): string {
  return mkdtempSync(join(tmpdir(), 'gw-certs-'))
}

let serial = 1

/** A certificate with subject CN=`cn` in `dir`, written as `<file>.crt` / `<file>.key`. */
export function makeCert(dir: string, file: string, cn: string, opts: CertOptions = {}): Pem {
  const certPath = join(dir, `${file}.crt`)
  const keyPath = join(dir, `${file}.key`)
  const ext: string[] = []
  if (opts.ca) {
    ext.push('basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign')
  } else {
    ext.push('basicConstraints=CA:FALSE', 'extendedKeyUsage=serverAuth,clientAuth')
    const san = [...(opts.dns ?? []).map((d) => `DNS:${d}`), ...(opts.ips ?? []).map((i) => `IP:${i}`)]
    if (san.length > 0) ext.push(`subjectAltName=${san.join(',')}`)
  }
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  }
  if (opts.issuer === undefined) {
    run(['req', '-x509', ...EC, '-days', '2', '-subj', `/CN=${cn}`, ...ext.flatMap((e) => ['-addext', e]), '-keyout', keyPath, '-out', certPath])
  } else {
    const csr = join(dir, `${file}.csr`)
    const extFile = join(dir, `${file}.ext`)
    writeFileSync(extFile, ext.join('\n') + '\n')
    run(['req', '-new', ...EC, '-subj', `/CN=${cn}`, '-keyout', keyPath, '-out', csr])
    run(['x509', '-req', '-in', csr, '-CA', opts.issuer.certPath, '-CAkey', opts.issuer.keyPath, '-set_serial', String(Date.now() * 100 + serial++),
      '-days', '2', '-extfile', extFile, '-out', certPath])
  }
  return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8'), certPath, keyPath }
}
