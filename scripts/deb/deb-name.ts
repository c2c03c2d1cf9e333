export const PACKAGE_NAME = 'iottly-agent';

/** The .deb's file name, as Debian names them: `<package>_<version>_<architecture>.deb`. */
export function debName(target: { debianArch: string }, version: string): string {
  return `${PACKAGE_NAME}_${version}_${target.debianArch}.deb`;
}
