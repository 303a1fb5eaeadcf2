// Every path below `.hive/<stage>/`, named in one place. Leaf module: imports nothing of hive.
import { join } from 'node:path';

/** Passwords the roles generate into the stage folder on first use (hive masks them in output). */
const GENERATED_SECRETS = ['registry_password', 'zabbix_admin_password', 'zabbix_db_password'] as const;

export class StageDir {
  /** `path`: the absolute `.hive/<stage>` folder (HiveContext.stageDir). */
  constructor(readonly path: string) {}

  static of(hiveDir: string, stage: string): StageDir {
    return new StageDir(join(hiveDir, stage));
  }

  private file(...parts: string[]): string {
    return join(this.path, ...parts);
  }

  // generated for ansible-playbook on every run (render/stage-files.ts)
  get inventory(): string {
    return this.file('inventory.yml');
  }
  get vars(): string {
    return this.file('vars.yml');
  }
  get ansibleCfg(): string {
    return this.file('ansible.cfg');
  }
  /** The link to the inventory's group_vars/ or host_vars/ beside inventory.yml. */
  varsLink(name: 'group_vars' | 'host_vars'): string {
    return this.file(name);
  }

  // written by build-infra (the providers)
  get sshConfig(): string {
    return this.file('ssh_config');
  }
  get knownHosts(): string {
    return this.file('known_hosts');
  }
  get privateKey(): string {
    return this.file('id_ed25519');
  }
  get publicKey(): string {
    return this.file('id_ed25519.pub');
  }
  get caDir(): string {
    return this.file('ca');
  }
  get caCert(): string {
    return this.file('ca', 'cacert.pem');
  }
  get caKey(): string {
    return this.file('ca', 'cakey.pem');
  }

  // hive's records
  get allocations(): string {
    return this.file('allocations.yml');
  }
  get progress(): string {
    return this.file('progress.yml');
  }
  get images(): string {
    return this.file('images.yml');
  }
  get lock(): string {
    return this.file('lock');
  }
  /** Folder of the run records (runner/run-record.ts names the files). */
  get runs(): string {
    return this.file('runs');
  }
  /** The check run's output of one `hive plan` process. */
  planFile(pid: number): string {
    return this.file(`plan-${pid}.json`);
  }
  get generatedSecrets(): string[] {
    return GENERATED_SECRETS.map((name) => this.file(name));
  }
}
