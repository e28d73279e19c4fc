// What each channel kind can show (the default profiles of crates/core/src/capabilities.rs,
// with a connection's overrides applied), so the composer can tell the operator how a reply
// will look before it is sent. No API serves these yet, so they are mirrored here.

const IMAGE_FILE = ["image", "file"];

/** kind -> {max_text, unit, buttons: null | {max, label}, media, window_hours} */
const PROFILES = {
  telegram: { max_text: 4096, unit: "utf16", buttons: { max: 100, label: 64 }, media: ["image", "file", "audio", "voice", "video"] },
  vk: { max_text: 9000, buttons: { max: 7, label: 20 }, media: IMAGE_FILE },
  viber: { max_text: 7000, buttons: { max: 24, label: 250 }, media: ["image", "video", "file"] },
  whatsapp: { max_text: 4096, buttons: { max: 3, label: 20 }, media: ["image", "video", "audio", "file", "sticker"], window_hours: 24 },
  messenger: { max_text: 2000, buttons: { max: 13, label: 20 }, media: ["image", "video", "audio", "file"], window_hours: 24 },
  instagram: { max_text: 1000, unit: "bytes", buttons: { max: 13, label: 20 }, media: ["image", "video", "audio"], window_hours: 24 },
  ok: { max_text: 4000, buttons: { max: 10, label: 30 }, media: IMAGE_FILE },
  avito: { max_text: 1000, buttons: null, media: ["image"] },
  yandex: { max_text: 6000, buttons: { max: 10, label: 40 }, media: IMAGE_FILE },
  email: { max_text: 100000, buttons: null, media: ["image", "video", "audio", "voice", "file"] },
  webchat: { max_text: 10000, buttons: { max: 20, label: 100 }, media: [] },
  jivo: { max_text: 4000, buttons: { max: 7, label: 40 }, media: IMAGE_FILE },
  webim: { max_text: 4000, buttons: { max: 10, label: 40 }, media: IMAGE_FILE },
  livetex: { max_text: 4000, buttons: { max: 10, label: 40 }, media: IMAGE_FILE },
  umnico: { max_text: 4000, buttons: null, media: IMAGE_FILE },
  bitrix24: { max_text: 20000, buttons: null, media: IMAGE_FILE },
};

export const KINDS = Object.keys(PROFILES);
const PLATFORMS = ["jivo", "webim", "umnico", "bitrix24", "livetex"];

function copy(p) {
  return { unit: "chars", window_hours: null, ...p, buttons: p.buttons ? { ...p.buttons } : null, media: [...p.media] };
}

export function forKind(kind) {
  return copy(PROFILES[kind] || { max_text: 4000, buttons: null, media: [] });
}

/** A connection's profile: its kind's, narrowed by a platform's messenger, with overrides. */
export function forChannel(channel) {
  if (!channel) return null;
  const o = channel.capabilities || null;
  let caps = forKind(channel.kind);
  if (o && o.via && PLATFORMS.includes(channel.kind)) {
    const inner = forKind(o.via);
    if (["whatsapp", "instagram", "messenger", "ok"].includes(o.via)) caps.buttons = null;
    if (inner.max_text < caps.max_text || inner.unit === "bytes") {
      caps.max_text = Math.min(caps.max_text, inner.max_text);
      if (inner.unit === "bytes") caps.unit = "bytes";
    }
    caps.window_hours = inner.window_hours;
  }
  if (o) {
    if (o.max_text) caps.max_text = o.max_text;
    if (o.buttons === false) caps.buttons = null;
    if (caps.buttons && o.max_buttons) caps.buttons.max = o.max_buttons;
    if (caps.buttons && o.max_label) caps.buttons.label = o.max_label;
  }
  return caps;
}

/** A text's length as the channel counts it. */
export function textLength(caps, text) {
  if (caps.unit === "utf16") return text.length;
  if (caps.unit === "bytes") return new TextEncoder().encode(text).length;
  return [...text].length;
}
