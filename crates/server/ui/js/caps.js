// What a channel connection can show, as the server computed it (`limits` in the channel's
// JSON: its kind's profile with the connection's overrides), in the shape the composer uses
// to tell the operator how a reply will look before it is sent.

/**
 * A connection's profile: {max_text, unit, buttons: null | {max, label, max_text}, list, media, window_hours}.
 * Null when the channel is unknown or the server sent no limits.
 */
export function forChannel(channel) {
  const l = channel && channel.limits;
  if (!l) return null;
  return {
    max_text: l.max_text,
    unit: l.text_unit || "chars",
    buttons: l.buttons ? { max: l.buttons.max_buttons, label: l.buttons.max_label, max_text: l.buttons.max_text || null } : null,
    list: l.list ? { max: l.list.max_rows } : null,
    media: Array.isArray(l.media) ? [...l.media] : [],
    window_hours: l.window ? l.window / 3600 : null,
  };
}

/** A text's length as the channel counts it. */
export function textLength(caps, text) {
  if (caps.unit === "utf16") return text.length;
  if (caps.unit === "bytes") return new TextEncoder().encode(text).length;
  return [...text].length;
}

/** Whether the channel's messaging window closed: the customer last wrote too long ago. */
export function windowClosed(caps, conv, now = Date.now()) {
  if (!caps || !caps.window_hours || !conv || !conv.last_inbound_at) return false;
  const last = Date.parse(conv.last_inbound_at);
  return Number.isFinite(last) && now - last > caps.window_hours * 3600 * 1000;
}
