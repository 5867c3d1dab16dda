/** path: choosing relays for circuits (weights, flags, families, exit ports) and the guards a client keeps. */
export * from './select.ts';
export * from './guards.ts';
