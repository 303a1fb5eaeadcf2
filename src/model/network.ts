// The `networks:` of service files and the networks services join: the checks (valid names, the
// same declaration in every file, a joined network is declared) and the typed build: one Network
// per name, on the stages of the files that declare it; hive_default_network exists for every
// file's stages.
import { keyPathText, show, whereText, type KeyPath, type Problem, type Report, type Where } from '../lib/problems.js';
import type { Network, StageName } from './site.js';
import { mergeStages } from './stage.js';
import { isObject } from '../lib/values.js';


/** Network names follow service names (letters, digits, '_', '.', '-'). */
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

// ---------------------------------------------------------------------------------------------
// checks

/** Checks the networks of the service files one file after the other, then the references. */
export class NetworkChecks {
  /** Declared networks: name → first declaration. */
  readonly declared = new Map<string, Where & { def: string }>();
  private readonly refs: (Where & { name: string })[] = [];

  /** A file's `networks:` mapping. */
  checkFile(doc: Where['doc'], networks: unknown, report: Report): void {
    if (!isObject(networks)) return;
    for (const [name, def] of Object.entries(networks)) {
      const path = ['networks', name];
      if (!NETWORK_NAME.test(name))
        report(path, `${show(name)} is not a valid network name (letters, digits, '_', '.', '-')`);
      const canonical = JSON.stringify(def ?? {});
      const first = this.declared.get(name);
      if (first && first.def !== canonical)
        report(path, `network ${show(name)} is declared differently in ${whereText(first)}`);
      else if (!first) this.declared.set(name, { doc, path, def: canonical });
    }
  }

  /** A service's `networks:` list (`path` is the service's); checked by checkRefs once every file is read. */
  addRefs(doc: Where['doc'], path: KeyPath, networks: unknown): void {
    if (!Array.isArray(networks)) return;
    networks.forEach((n: unknown, i: number) => {
      if (typeof n === 'string') this.refs.push({ doc, path: [...path, 'networks', i], name: n });
    });
  }

  /** Every network a service joins is declared in some file (or is hive_default_network). */
  checkRefs(problems: Problem[]): void {
    for (const ref of this.refs) {
      if (ref.name === 'hive_default_network' || this.declared.has(ref.name)) continue;
      problems.push({
        file: ref.doc.file,
        line: ref.doc.lineOf(ref.path),
        key: keyPathText(ref.path),
        message: `network ${show(ref.name)} is not declared (declare it under networks: in a service file)`,
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// build

/** Builds the networks of the service files one file after the other. */
export class NetworkBuilder {
  private readonly networks = new Map<string, Network>();

  /** A file's networks (`declared`: its `networks:`, `fileStages`: its available_on). */
  file(declared: Record<string, any>, fileStages: StageName[]): void {
    const fileNetworks: [string, any][] = Object.entries(declared);
    if (!('hive_default_network' in declared)) fileNetworks.push(['hive_default_network', null]);
    for (const [name, def] of fileNetworks) {
      const existing = this.networks.get(name);
      if (existing) {
        existing.stages = mergeStages(existing.stages, fileStages);
        continue;
      }
      const vars: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(def ?? {})) vars[`hive_${key}`] = value;
      this.networks.set(name, { name, stages: fileStages, vars });
    }
  }

  all(): Network[] {
    return [...this.networks.values()];
  }
}
