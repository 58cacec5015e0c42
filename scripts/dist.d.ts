// Types of scripts/dist.js (plain JavaScript: bin/pvsim.js runs it before any TypeScript loader).
export declare const ROOT: string;
export declare const DIST: string;
export declare const STAMP: string;
export declare const BUILD_INPUTS: readonly string[];
export declare const ASSETS: readonly string[];
export declare function sourceDirs(): string[];
export declare function distIsFresh(): boolean;
