// Services on the swarm, the TypeScript side: plan, image versions, rollback. The work itself is
// done by the roles (roles/services, roles/image_build); this reads and writes their records.
export { formatPlan, planServices, PlanError, type PlanEntry, type ServicePlan } from './plan.js';
export { formatVersions, listVersions, NoVersionsError, type ServiceVersions } from './versions.js';
export { chooseVersion, rollbackService, RollbackError, type RollbackResult } from './rollback.js';
export { readImageRecords, writeImageRecords, type ImageRecord, type ImageRecords } from './images.js';
