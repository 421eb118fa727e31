import type { Store } from "../../src/store/store.ts";
import { runBlocksContract } from "./blocks.contract.ts";
import { runDevicesContract } from "./devices.contract.ts";
import { runMediaContract } from "./media.contract.ts";
import { runMessageStateContract } from "./message-state.contract.ts";
import { runMessagesContract } from "./messages.contract.ts";
import { runRoomsContract } from "./rooms.contract.ts";
import { runSearchContract } from "./search.contract.ts";
import { runSyncContract } from "./sync.contract.ts";

/** Every port's contract, for one adapter. Each adapter's test file calls this once. */
export function runStoreContract(adapter: string, makeStore: () => Promise<Store>): void {
  runRoomsContract(adapter, makeStore);
  runMessagesContract(adapter, makeStore);
  runMessageStateContract(adapter, makeStore);
  runBlocksContract(adapter, makeStore);
  runSearchContract(adapter, makeStore);
  runMediaContract(adapter, makeStore);
  runDevicesContract(adapter, makeStore);
  runSyncContract(adapter, makeStore);
}
