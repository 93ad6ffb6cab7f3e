// Closing a verbs or CM object takes it out of use at once. The device call that destroys it runs on
// the addon's own thread, in the order objects were closed, because it can block for seconds (rxe's
// ibv_destroy_qp waits out a dead link's packets) and must not stop the event loop meanwhile.
import { native } from '../native';

/**
 * Resolves once every verbs and CM object closed so far has been destroyed on the device too: its
 * resources are gone from `rdma resource show`, and its memory is no longer registered.
 */
export function released(): Promise<void> {
  return new Promise((resolve) => native.drainReaper(resolve));
}
