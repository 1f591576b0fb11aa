// Filled in by its issue; see README "Architecture".
export {};
