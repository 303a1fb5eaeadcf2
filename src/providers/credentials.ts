// The site's SSH key pair and certificate authority, generated once per stage under
// `.hive/<stage>/` with the system's ssh-keygen and openssl. Private keys are written 0600.
import { existsSync, readFileSync, chmodSync } from 'node:fs';
import { ensureStateDir, STATE_FILE_MODE } from '../state/files.js';
import { StageDir } from '../state/stage-dir.js';
import { execa } from 'execa';

export interface SshKeyPair {
  privateKeyPath: string;
  publicKeyPath: string;
  publicKey: string;
}

export async function ensureSshKeyPair(stageDir: string, comment = 'hive'): Promise<SshKeyPair> {
  ensureStateDir(stageDir);
  const { privateKey: privateKeyPath, publicKey: publicKeyPath } = new StageDir(stageDir);
  if (!existsSync(privateKeyPath)) {
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', privateKeyPath]);
  }
  chmodSync(privateKeyPath, STATE_FILE_MODE);
  chmodSync(publicKeyPath, STATE_FILE_MODE);
  return { privateKeyPath, publicKeyPath, publicKey: readFileSync(publicKeyPath, 'utf8').trim() };
}

export interface SiteCa {
  certPath: string;
  keyPath: string;
}

/**
 * Self-signed site CA: the servers' (docker daemon, registry, syslog) and services' certificates,
 * all server identities; host keys are made on the hosts. Docker API clients use a separate
 * docker client CA, which setup-hosts makes (roles/host_certificate).
 */
export async function ensureSiteCa(stageDir: string, siteName: string): Promise<SiteCa> {
  const dir = new StageDir(stageDir);
  const ca: SiteCa = { certPath: dir.caCert, keyPath: dir.caKey };
  ensureStateDir(dir.caDir);
  if (!existsSync(ca.certPath) || !existsSync(ca.keyPath)) {
    await execa('openssl', [
      'req', '-x509', '-newkey', 'rsa:4096', '-nodes', '-sha256', '-days', '36500',
      '-subj', `/CN=ca.${siteName}`,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,digitalSignature,cRLSign,keyCertSign',
      '-keyout', ca.keyPath, '-out', ca.certPath,
    ]);
  }
  chmodSync(ca.keyPath, STATE_FILE_MODE);
  chmodSync(ca.certPath, STATE_FILE_MODE);
  return ca;
}
