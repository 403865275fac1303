// Message headers the transport writes and reads.

/** JetStream's de-duplication header: the event id. */
export const MSG_ID_HEADER = "Nats-Msg-Id";
/** The event type. */
export const HEADER_TYPE = "Eventferry-Type";
/** The ordering key, when the event has one. */
export const HEADER_KEY = "Eventferry-Key";
/** `fields` when the payload is a JSON-encoded field map instead of a wire document. */
export const HEADER_PAYLOAD_FORMAT = "Eventferry-Payload-Format";
/**
 * Which of id, type and key are percent-encoded (`id,key`): header values cannot hold CR/LF and
 * lose surrounding spaces, so such values travel encoded and are decoded on receipt.
 */
export const HEADER_ENCODED = "Eventferry-Encoded";

/** True when `value` survives a NATS header unchanged (no CR/LF, no surrounding whitespace). */
export function headerSafe(value: string): boolean {
  return value.trim() === value && !/[\r\n]/.test(value);
}
