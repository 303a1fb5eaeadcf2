// backup_scripts entry names name the backup files in the service's one backup folder: two
// entries of one service with the same name are refused, naming file, line and key.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupProjects, problems } from '../fixtures/inventory/helpers.js';

afterEach(cleanupProjects);

const services = (body: string) => `plugin: hive_services\nservices:\n${body}`;

describe('backup_scripts entry names', () => {
  it('must be unique per service', () => {
    expect(
      problems({
        'app.yml': services(
          '  db:\n    image: postgres:16\n    backup_scripts:\n' +
            '      - name: data\n        directory: /var/lib/postgresql\n' +
            '      - name: dump\n        backup_command: pg_dumpall\n' +
            '      - name: data\n        backup_command: tar -czf - /etc\n',
        ),
      }),
    ).toEqual([
      'inventory/app.yml:10: services.db.backup_scripts.2.name: backup_scripts entry "data" is already defined in this service (entry 1): entry names must be unique per service',
    ]);
  });

  it('may repeat across services, and names that only share a prefix are distinct', () => {
    expect(
      problems({
        'app.yml': services(
          '  web:\n    image: nginx\n    backup_scripts:\n      - name: db\n        directory: /srv\n      - name: db-2\n        directory: /srv2\n' +
            '  api:\n    image: nginx\n    backup_scripts:\n      - name: db\n        directory: /srv\n',
        ),
      }),
    ).toEqual([]);
  });

  it('cannot end in -prerestore', () => {
    expect(
      problems({ 'app.yml': services('  web:\n    image: nginx\n    backup_scripts:\n      - name: db-prerestore\n        directory: /srv\n') }),
    ).toEqual([
      'inventory/app.yml:6: services.web.backup_scripts.0.name: "db-prerestore": a backup entry name cannot end in -prerestore (its files would look like the prerestore files of "db")',
    ]);
  });
});
