// The apt cache the local hosts download through, so a rebuilt site does not fetch the same
// packages again. hive does not run the cache itself: an apt-cacher-ng on this machine (the
// Debian package, port 3142) is used when it answers and can fetch from the Debian mirror;
// HIVE_APT_PROXY names another proxy (a URL the hosts can reach) or, set to "off", turns the
// cache off.
import { request } from 'node:http';

export const APT_CACHER_PORT = 3142;

export interface AptProxy {
  /** URL for downloads made on this machine (debootstrap). */
  forMachine: string;
  /** URL the host containers use, through the site network's gateway. */
  forHosts: string;
  /** Where it came from, for the progress message. */
  source: string;
}

export interface AptProxyChoice {
  proxy?: AptProxy;
  /** Why a cache that answers is not used. */
  problem?: string;
}

/** Status of a HEAD request for `url` made through the proxy at host:port (0: no answer). */
function headThroughProxy(host: string, port: number, url: string, timeoutMs = 15_000): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host, port, method: 'HEAD', path: url, headers: { Host: new URL(url).host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.setTimeout(timeoutMs, () => req.destroy());
    req.once('error', () => resolve(0));
    req.end();
  });
}

/**
 * The proxy for a site whose network gateway is `gateway`. A local apt-cacher-ng is used only
 * if it can fetch `probeUrl` (a Release file of the mirror the hosts use): one that answers but
 * cannot reach its upstream would make every apt run on the hosts fail.
 */
export async function resolveAptProxy(gateway: string, probeUrl: string): Promise<AptProxyChoice> {
  const configured = process.env.HIVE_APT_PROXY?.trim();
  if (configured === 'off' || configured === 'none') return {};
  if (configured) return { proxy: { forMachine: configured, forHosts: configured, source: 'HIVE_APT_PROXY' } };
  const status = await headThroughProxy('127.0.0.1', APT_CACHER_PORT, probeUrl);
  if (status === 0) return {};
  if (status !== 200) {
    return {
      problem:
        `the apt cache on port ${APT_CACHER_PORT} of this machine answers HTTP ${status} for ${probeUrl}, so the hosts download directly ` +
        '(for apt-cacher-ng, put the mirror this machine uses into /etc/apt-cacher-ng/backends_debian and restart it)',
    };
  }
  return {
    proxy: {
      forMachine: `http://127.0.0.1:${APT_CACHER_PORT}`,
      forHosts: `http://${gateway}:${APT_CACHER_PORT}`,
      source: `apt cache on port ${APT_CACHER_PORT} of this machine`,
    },
  };
}

/** Content of the hosts' /etc/apt/apt.conf.d/01proxy. */
export const aptProxyConf = (url: string) =>
  [
    "// written by hive build-infra (local provider): apt downloads go through the machine's cache",
    `Acquire::http::Proxy "${url}";`,
    // a download the cache stalls is given up and tried again instead of hanging the phase
    'Acquire::http::Timeout "30";',
    'Acquire::Retries "3";',
    '',
  ].join('\n');
