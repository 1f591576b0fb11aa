/**
 * apk's version grammar, `digits{.digits}{letter}{_suffix{digits}}…{~hexhash}{-rN}`, as a
 * pure check for parse time. libs/apk's tokenizer (libs/apk/src/version.ts) is the
 * implementation that compares versions; @melange2/melange may not depend on @melange2/apk, so
 * the grammar is restated here as one regular expression, and a test in libs/engine checks the
 * two agree. Every part is anchored by its own separator, so the expression cannot backtrack.
 */
const APK_VERSION =
  /^\d+(?:\.\d+)*[a-z]?(?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)\d*)*(?:~[0-9a-f]+)?(?:-r\d+)?$/;

/** True when `v` is a valid apk version (revision `-rN` included). */
export function isApkVersion(v: string): boolean {
  return APK_VERSION.test(v);
}

/**
 * True when `v` can be a config's `package.version`: an apk version without the `-rN`
 * revision, which melange appends from `package.epoch`.
 */
export function isPackageVersion(v: string): boolean {
  return APK_VERSION.test(v) && !v.includes('-r');
}
