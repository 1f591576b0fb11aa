/**
 * Docker-style image reference normalization (what Go's `ParseNormalizedNamed` + `TagNameOnly`
 * do before marshaling): the daemon rejects references without a registry host or a tag/digest.
 */
export function normalizeImageRef(ref: string): string {
  const s = ref.trim();
  if (s === '' || /\s/.test(s)) throw new Error(`invalid image reference ${JSON.stringify(ref)}`);
  let name = s;
  let digest = '';
  const at = name.indexOf('@');
  if (at >= 0) {
    digest = name.slice(at);
    name = name.slice(0, at);
    if (!/^@[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest)) {
      throw new Error(`invalid digest in image reference ${JSON.stringify(ref)}`);
    }
  }
  let tag = '';
  const lastSlash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
    if (!/^[\w][\w.-]{0,127}$/.test(tag))
      throw new Error(`invalid tag in image reference ${JSON.stringify(ref)}`);
  }
  const slash = name.indexOf('/');
  let domain: string;
  let path: string;
  const first = slash >= 0 ? name.slice(0, slash) : '';
  if (
    slash >= 0 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())
  ) {
    domain = first;
    path = name.slice(slash + 1);
  } else {
    domain = 'docker.io';
    path = name;
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  if (
    path === '' ||
    path !== path.toLowerCase() ||
    !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(path)
  ) {
    throw new Error(`invalid repository name in image reference ${JSON.stringify(ref)}`);
  }
  if (!tag && !digest) tag = 'latest';
  return `${domain}/${path}${tag ? `:${tag}` : ''}${digest}`;
}
