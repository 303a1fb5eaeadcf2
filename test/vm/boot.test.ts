import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, expect, it } from 'vitest';
import { ensureVmImage, VmBed, vmSsh } from './bed/bed.js';

const dir = mkdtempSync('/var/tmp/hive/vmboot-');
let bed: VmBed;
afterAll(async () => { await bed?.destroy(); });

it('boots 3 VMs', async () => {
  const image = await ensureVmImage();
  console.log('image', image);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
  const pub = (await execa('cat', [join(dir, 'key.pub')])).stdout;
  bed = new VmBed(image, { dir, names: ['p-hive0.vmsite', 'p-hive1.vmsite', 'p-hive2.vmsite'], publicKey: pub });
  await bed.createNetwork();
  await bed.createDisks();
  const t0 = Date.now();
  await Promise.all(bed.vms.map((v) => bed.start(v)));
  const secs = await Promise.all(bed.vms.map((v) => bed.waitSsh(v)));
  console.log('ssh after', secs, (Date.now() - t0) / 1000);
  for (const v of bed.vms) {
    const r = await vmSsh(v, join(dir, 'key'), 'cat /proc/drbd | head -1; hostname; uname -r; for i in $(seq 60); do docker info --format "{{.ServerVersion}}" 2>/dev/null && break; sleep 2; done; ping -c1 -W2 10.99.0.10 >/dev/null && echo pingok');
    console.log(v.name, (Date.now() - t0) / 1000, r.all);
    expect(r.all).toContain('8.4');
  }
}, 1_800_000);
