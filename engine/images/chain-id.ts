// Chain ids (image-spec config.md): a layer's identity together with every layer below it, so the same diff on top
// of a different base is a different snapshot. chainId(L0) = diffId(L0); chainId(Ln) = sha256(chainId(Ln-1) + " " + diffId(Ln)).
import { type Digest, defaultHasherFactory, digestOf, type HasherFactory } from "../oci/index.ts";

/**
 * The chain id of every layer of an image, base first.
 * @example
 * chainIds(config.rootfs.diff_ids).at(-1); // the id of the image's top snapshot
 */
export function chainIds(diffIds: readonly Digest[], hashers: HasherFactory = defaultHasherFactory): Digest[] {
  const ids: Digest[] = [];
  for (const diffId of diffIds) {
    const parent = ids.at(-1);
    ids.push(
      parent === undefined ? diffId : digestOf(new TextEncoder().encode(`${parent} ${diffId}`), "sha256", hashers),
    );
  }
  return ids;
}
