// Markers for counting instructions in the lab: with `rdma-ccm lab --tcg-plugin` and bench/instructions'
// counter, the guest's instructions between instructionMarker(true) and instructionMarker(false) are
// counted (user and kernel apart), so that a benchmark measures its loop and nothing else.
import { native } from '../native';

/**
 * Opens (`true`) or closes (`false`) a window of the lab's instruction counter: it executes a tagged
 * long NOP, which does nothing on any CPU and is what the counter plugin looks for.
 */
export function instructionMarker(start: boolean): void {
  native.instructionMarker(start);
}
