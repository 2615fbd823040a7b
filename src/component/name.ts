import { basename } from 'node:path';

/**
 * A component's name when its options give none: the file's base name without `.wasm`
 * (`component` for bytes). The loader names components with it, and the options' checks use it
 * to find two components of one name before anything is loaded.
 */
export function defaultComponentName(label: string): string {
  return label === '<bytes>' ? 'component' : basename(label).replace(/\.wasm$/, '');
}
