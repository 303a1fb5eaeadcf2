// The stages every site has, in promotion order. A leaf: state/ and model/ both name stages.
export const STAGES = ['private', 'staging', 'production'] as const;
export type StageName = (typeof STAGES)[number];
