// Markers for counting instructions in the lab: with `rdma-ccm lab --tcg-plugin` and bench/instructions'
// counter, the guest's instructions between instructionMarker(true) and instructionMarker(false) are
// counted (user and kernel apart), so that a benchmark measures its loop and nothing else.
import type { Addon } from '../native';

/** The addon's marker, loaded at the first call: the lab itself runs on hosts without rdma-core's libraries. */
let marker: Addon['instructionMarker'] | null = null;

/**
 * Opens (`true`) or closes (`false`) a window of the lab's instruction counter: it executes a tagged
 * long NOP, which does nothing on any CPU and is what the counter plugin looks for.
 */
export function instructionMarker(start: boolean): void {
  (marker ??= (require('../native') as typeof import('../native')).native.instructionMarker)(start);
}
