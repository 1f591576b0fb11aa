/**
 * A melange config as decoded: YAML key names kept as they are, every scalar a string until the
 * schema says otherwise, optional fields absent rather than empty.
 */

export type StrMap = Readonly<Record<string, string>>;

export interface Input {
  readonly description?: string;
  readonly default?: string;
  readonly required?: boolean;
}

export interface Pipeline {
  readonly if?: string;
  readonly name?: string;
  readonly uses?: string;
  readonly with?: StrMap;
  readonly runs?: string;
  readonly pipeline?: readonly Pipeline[];
  readonly inputs?: Readonly<Record<string, Input>>;
  readonly needs?: { readonly packages?: readonly string[] };
  readonly label?: string;
  readonly assertions?: { readonly 'required-steps'?: number };
  readonly 'working-directory'?: string;
  readonly environment?: StrMap;
  /** Pipeline files only. */
  readonly description?: string;
}

export interface Dependencies {
  readonly runtime?: readonly string[];
  readonly provides?: readonly string[];
  readonly replaces?: readonly string[];
  readonly 'provider-priority'?: string;
  readonly 'replaces-priority'?: string;
}

export interface PackageOptions {
  readonly 'no-provides'?: boolean;
  readonly 'no-depends'?: boolean;
  readonly 'no-commands'?: boolean;
  readonly 'no-versioned-shlib-deps'?: boolean;
}

export interface Scriptlets {
  readonly trigger?: { readonly script?: string; readonly paths?: readonly string[] };
  readonly 'pre-install'?: string;
  readonly 'post-install'?: string;
  readonly 'pre-deinstall'?: string;
  readonly 'post-deinstall'?: string;
  readonly 'pre-upgrade'?: string;
  readonly 'post-upgrade'?: string;
}

export interface Copyright {
  readonly paths?: readonly string[];
  readonly attestation?: string;
  readonly license?: string;
  readonly 'license-path'?: string;
  readonly 'detection-override'?: string;
}

interface Resources {
  readonly cpu?: string;
  readonly cpumodel?: string;
  readonly memory?: string;
  readonly disk?: string;
}

interface SetCap {
  readonly path?: string;
  readonly add?: StrMap;
  readonly reason?: string;
}

export interface Package {
  readonly name: string;
  readonly version: string;
  readonly epoch: number;
  readonly description?: string;
  readonly annotations?: StrMap;
  readonly url?: string;
  readonly commit?: string;
  readonly 'target-architecture'?: readonly string[];
  readonly copyright?: readonly Copyright[];
  readonly dependencies?: Dependencies;
  readonly options?: PackageOptions;
  readonly scriptlets?: Scriptlets;
  readonly checks?: { readonly enabled?: readonly string[]; readonly disabled?: readonly string[] };
  readonly cpe?: StrMap;
  readonly setcap?: readonly SetCap[];
  readonly timeout?: string;
  readonly resources?: Resources;
  readonly 'test-resources'?: Resources;
}

export interface User {
  readonly username?: string;
  readonly uid?: number;
  readonly gid?: number;
  readonly shell?: string;
  readonly homedir?: string;
}

export interface Group {
  readonly groupname?: string;
  readonly gid?: number;
  readonly members?: readonly string[];
}

/** apko's ImageConfiguration, as far as melange uses it. */
export interface Environment {
  readonly contents?: {
    readonly repositories?: readonly string[];
    readonly build_repositories?: readonly string[];
    readonly keyring?: readonly string[];
    readonly packages?: readonly string[];
  };
  readonly accounts?: {
    readonly users?: readonly User[];
    readonly groups?: readonly Group[];
    readonly 'run-as'?: string;
  };
  readonly environment?: StrMap;
  readonly archs?: readonly string[];
}

export interface Test {
  readonly environment?: Environment;
  readonly pipeline?: readonly Pipeline[];
}

export interface Subpackage {
  readonly if?: string;
  readonly range?: string;
  readonly name: string;
  readonly pipeline?: readonly Pipeline[];
  readonly dependencies?: Dependencies;
  readonly options?: PackageOptions;
  readonly scriptlets?: Scriptlets;
  readonly description?: string;
  readonly annotations?: StrMap;
  readonly url?: string;
  readonly commit?: string;
  readonly checks?: { readonly enabled?: readonly string[]; readonly disabled?: readonly string[] };
  readonly test?: Test;
  readonly setcap?: readonly SetCap[];
}

interface VarTransformEntry {
  readonly from: string;
  readonly match: string;
  readonly replace: string;
  readonly to: string;
}

interface BuildOption {
  readonly vars?: StrMap;
  readonly environment?: {
    readonly contents?: {
      readonly packages?: { readonly add?: readonly string[]; readonly remove?: readonly string[] };
    };
  };
}

export interface Configuration {
  readonly package: Package;
  readonly environment?: Environment;
  readonly capabilities?: { readonly add?: readonly string[]; readonly drop?: readonly string[] };
  readonly pipeline?: readonly Pipeline[];
  readonly subpackages?: readonly Subpackage[];
  readonly data?: readonly { readonly name: string; readonly items?: StrMap }[];
  readonly update?: Readonly<Record<string, unknown>>;
  readonly vars?: StrMap;
  readonly 'var-transforms'?: readonly VarTransformEntry[];
  readonly options?: Readonly<Record<string, BuildOption>>;
  readonly test?: Test;
}
