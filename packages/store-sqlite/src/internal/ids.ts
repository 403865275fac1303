import { uuidv7 } from "@eventferry/core";

/** A fresh row id (UUIDv7: sortable by creation time). */
export function newId(): string {
  return uuidv7();
}
