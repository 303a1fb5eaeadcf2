import { describe, expect, it } from 'vitest';
import { formatPlan, parsePlanFile, type ServicePlan } from '../../src/services/plan.js';

// the shape roles/services/templates/plan.json.j2 writes (check-mode results of docker_swarm_service)
const planJson = JSON.stringify({
  stage: 'private',
  services: [
    { name: 'web', action: 'update', image: 'p-hive3.demo:5000/image_web:b2', unbuilt: false, live_image: 'p-hive3.demo:5000/image_web:a1',
      changes: ['image', 'labels', 'healthcheck', 'env'],
      before: { image: 'p-hive3.demo:5000/image_web:a1', labels: { 'hive.spec': '111', 'hive.stage': 'private' }, healthcheck: null,
        env: ['DB_PASSWORD=old-secret', 'MODE=a', 'GONE=1'] },
      after: { image: 'p-hive3.demo:5000/image_web:b2', labels: { 'hive.spec': '222', 'hive.stage': 'private' }, healthcheck: { retries: 2 },
        env: ['DB_PASSWORD=new-secret', 'MODE=a', 'NEW=2'] } },
    { name: 'notes', action: 'unchanged', image: 'p-hive3.demo:5000/image_notes:c3', unbuilt: false },
    { name: 'api', action: 'create', image: 'p-hive3.demo:5000/image_api:not-built', unbuilt: true },
    { name: 'old', action: 'remove', live_image: 'nginx:1' },
    { name: 'stray', action: 'orphan', live_image: 'redis:7' },
    { name: 'db', action: 'create', image: 'postgres:16', unbuilt: false },
  ],
});

describe('hive plan', () => {
  const parsed = parsePlanFile(planJson);

  it('orders create, update, remove, unchanged', () => {
    expect(parsed.services.map((e) => `${e.action} ${e.service}`)).toEqual(['create api', 'create db', 'update web', 'remove old', 'orphan stray', 'unchanged notes']);
  });

  it('keeps the changed fields with their values, without hive.spec label noise', () => {
    const webEntry = parsed.services.find((e) => e.service === 'web')!;
    expect(webEntry.changes).toEqual([
      { field: 'image', before: 'p-hive3.demo:5000/image_web:a1', after: 'p-hive3.demo:5000/image_web:b2' },
      { field: 'healthcheck', before: null, after: { retries: 2 } },
      { field: 'env', keys: ['DB_PASSWORD', 'GONE', 'NEW'] },
    ]);
  });

  it('prints one line per service and a summary', () => {
    const plan: ServicePlan = {
      stage: parsed.stage,
      services: parsed.services,
      summary: { create: 2, update: 1, remove: 1, orphan: 1, unchanged: 1, error: 0 },
      phase: { phase: 'deploy-services', ok: true, rc: 0, stats: {}, failed: [], duration: 1, runRecord: '' },
    };
    const text = formatPlan(plan);
    expect(text).toContain('deploy-services plan for stage private:');
    expect(text).toMatch(/\+ create +api +image not built yet \(run hive build-images\)/);
    expect(text).toMatch(/\+ create +db +image postgres:16/);
    expect(text).toMatch(/~ update +web +image, healthcheck, env/);
    expect(text).toContain('      env: DB_PASSWORD, GONE, NEW (values not shown)');
    expect(text).not.toContain('secret');
    expect(text).toContain('      image: p-hive3.demo:5000/image_web:a1 → p-hive3.demo:5000/image_web:b2');
    expect(text).toMatch(/- remove +old +\(no longer in the inventory; running nginx:1\)/);
    expect(text).toMatch(/= unchanged notes/);
    expect(text).toMatch(/\? orphan +stray +\(no longer in the inventory; running redis:7; kept: hive deploy-services --prune removes it\)/);
    expect(text).toContain('2 to create, 1 to update, 1 to remove, 1 unchanged, 1 left over (kept).');
  });
});
