// A service's `ports:` (short syntax "[published:]target[/protocol]" or a mapping): the checks
// (range, a published port used twice on a stage) and the typed build, with published ports
// allocated automatically (61001-65534, kept in allocations.yml) for those written without one.
import { show, whereText, type KeyPath, type Report, type Where } from '../lib/problems.js';
import type { Allocator } from '../state/allocations.js';
import type { PortSpec, StageName } from './site.js';
import { isObject } from '../lib/values.js';


export interface ParsedPort {
  target_port: number;
  published_port?: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  mode?: 'ingress' | 'host';
}

/** A port element as hive-builder normalised it (short syntax or map; protocol defaults to tcp). */
export function parsePort(value: unknown): ParsedPort | null {
  if (typeof value === 'string') {
    const m = /^(?:(\d{1,5}):)?(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(value);
    if (!m) return null;
    const port: ParsedPort = { target_port: Number(m[2]), protocol: (m[3] as ParsedPort['protocol']) ?? 'tcp' };
    if (m[1] !== undefined) return { published_port: Number(m[1]), ...port };
    return port;
  }
  if (isObject(value) && Number.isInteger(value.target_port)) {
    return { ...value, protocol: value.protocol ?? 'tcp' } as ParsedPort;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// checks

/** Checks the ports of services one after the other: a published port is used once per stage and protocol. */
export class PortChecks {
  // "stage port/protocol" → first user
  private readonly ports = new Map<string, Where & { service: string }>();

  /** `path` is the service's (services.<name>), `stages` the defined stages it runs on. */
  check(doc: Where['doc'], path: KeyPath, name: string, ports: unknown[], stages: StageName[], report: Report): void {
    ports.forEach((value: unknown, i: number) => {
      const port = parsePort(value);
      if (!port) return;
      const portPath = [...path, 'ports', i];
      for (const [label, n] of [
        ['target', port.target_port],
        ['published', port.published_port],
      ] as const) {
        if (n !== undefined && (n < 1 || n > 65535)) report(portPath, `${label} port ${n} is not in 1-65535`);
      }
      if (port.published_port === undefined) return;
      for (const stage of stages) {
        const id = `${stage} ${port.published_port}/${port.protocol}`;
        const firstUse = this.ports.get(id);
        if (!firstUse) {
          this.ports.set(id, { doc, path: portPath, service: name });
          continue;
        }
        report(
          portPath,
          firstUse.service === name
            ? `published port ${port.published_port}/${port.protocol} is listed twice in this service (first at ${whereText(firstUse)})`
            : `published port ${port.published_port}/${port.protocol} is already used on stage ${stage} by service ${show(firstUse.service)} at ${whereText(firstUse)}`,
        );
        break; // one report per port is enough
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// build

/** Explicit published ports are reserved before any is allocated automatically. */
export function reservePorts(ports: unknown, allocator: Allocator): void {
  for (const value of (ports as unknown[] | undefined) ?? []) {
    const port = parsePort(value);
    if (port?.published_port !== undefined) allocator.reservePort(port.published_port);
  }
}

/**
 * The service's ports, normalised, with automatic published ports resolved (`auto`, not
 * enumerable, marks them). `report` takes the path of the port (services.<name>.ports.<i>).
 */
export function buildPorts(
  name: string,
  rawPorts: unknown[],
  servicePath: KeyPath,
  allocator: Allocator,
  storeName: string,
  report: Report,
): PortSpec[] {
  const ports: PortSpec[] = [];
  for (const [i, value] of rawPorts.entries()) {
    const parsed = parsePort(value)!;
    let auto = false;
    let published = parsed.published_port;
    if (published === undefined) {
      const key = `${name}${parsed.target_port}`;
      const allocated = allocator.portFor(key);
      if (allocated === null) {
        report([...servicePath, 'ports', i], `no free port (61001-65534) left to publish ${key} in ${storeName}`);
        published = 0;
      } else {
        published = allocated;
        auto = true;
      }
    } else {
      // pinning a service's own automatic port explicitly is fine; taking another's is not
      const key = `${name}${parsed.target_port}`;
      const owner = Object.entries(allocator.state.publishedPorts).find(([, n]) => n === published)?.[0];
      if (owner !== undefined && owner !== key)
        report(
          [...servicePath, 'ports', i],
          `published port ${published} is already allocated automatically to ${owner} (${storeName})`,
        );
    }
    const port: PortSpec = { ...parsed, published_port: published };
    ports.push(port);
    if (auto) Object.defineProperty(port, 'auto', { value: true, enumerable: false });
  }
  return ports;
}
