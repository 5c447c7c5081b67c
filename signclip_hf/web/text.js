// The text side of SignCLIP in JavaScript: a BERT WordPiece tokenizer that reads the export's `tokenizer.json`
// (Hugging Face tokenizers: BertNormalizer, BertPreTokenizer, WordPiece, [CLS] ... [SEP], truncation) and gives the
// same ids as the Python tokenizer, and the prompt format of the manifest ("<en> <ase> house").
// No DOM and no dependencies: runs in the page and in Node.

const isWhitespace = (c) => c === " " || c === "\t" || c === "\n" || c === "\r" || /\p{Zs}/u.test(c);
const isControl = (c) => !(c === "\t" || c === "\n" || c === "\r") && /\p{C}/u.test(c);
const isPunctuation = (c) => {
  const code = c.codePointAt(0);
  return (code >= 33 && code <= 47) || (code >= 58 && code <= 64) || (code >= 91 && code <= 96) ||
    (code >= 123 && code <= 126) || /\p{P}/u.test(c);
};
const isChinese = (code) =>
  (code >= 0x4e00 && code <= 0x9fff) || (code >= 0x3400 && code <= 0x4dbf) || (code >= 0x20000 && code <= 0x2a6df) ||
  (code >= 0x2a700 && code <= 0x2b73f) || (code >= 0x2b740 && code <= 0x2b81f) || (code >= 0x2b820 && code <= 0x2ceaf) ||
  (code >= 0xf900 && code <= 0xfaff) || (code >= 0x2f800 && code <= 0x2fa1f);

/** A tokenizer from a parsed `tokenizer.json` of the BERT family; `maxLength` includes [CLS] and [SEP]. */
export class WordPieceTokenizer {
  constructor(json, maxLength) {
    const model = json.model;
    if (model?.type !== "WordPiece" || json.normalizer?.type !== "BertNormalizer" ||
        json.pre_tokenizer?.type !== "BertPreTokenizer") {
      throw new Error("the page's tokenizer reads BERT WordPiece tokenizers (BertNormalizer, BertPreTokenizer) only");
    }
    this.vocab = new Map(Object.entries(model.vocab));
    this.unk = model.unk_token;
    this.prefix = model.continuing_subword_prefix ?? "##";
    this.maxChars = model.max_input_chars_per_word ?? 100;
    const normalizer = json.normalizer;
    this.lowercase = normalizer.lowercase ?? true;
    this.stripAccents = normalizer.strip_accents ?? this.lowercase; // None follows lowercase, as in tokenizers
    this.cleanText = normalizer.clean_text ?? true;
    this.chineseChars = normalizer.handle_chinese_chars ?? true;
    this.added = (json.added_tokens || []).filter((t) => t.special).map((t) => t.content);
    this.cls = this.vocab.get("[CLS]");
    this.sep = this.vocab.get("[SEP]");
    this.maxLength = maxLength ?? json.truncation?.max_length ?? 512;
  }

  normalize(text) {
    let out = "";
    for (const c of text) {
      const code = c.codePointAt(0);
      if (this.cleanText && (code === 0 || code === 0xfffd || isControl(c))) continue;
      if (this.cleanText && isWhitespace(c)) out += " ";
      else if (this.chineseChars && isChinese(code)) out += ` ${c} `;
      else out += c;
    }
    if (this.stripAccents) out = out.normalize("NFD").replace(/\p{Mn}/gu, "");
    if (this.lowercase) out = out.toLowerCase();
    return out;
  }

  preTokenize(text) {
    const words = [];
    let word = "";
    for (const c of text) {
      if (isWhitespace(c)) {
        if (word) words.push(word);
        word = "";
      } else if (isPunctuation(c)) {
        if (word) words.push(word);
        words.push(c);
        word = "";
      } else {
        word += c;
      }
    }
    if (word) words.push(word);
    return words;
  }

  wordPiece(word) {
    const chars = [...word];
    if (chars.length > this.maxChars) return [this.vocab.get(this.unk)];
    const ids = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found = null;
      while (start < end) {
        const piece = (start > 0 ? this.prefix : "") + chars.slice(start, end).join("");
        if (this.vocab.has(piece)) {
          found = this.vocab.get(piece);
          break;
        }
        end -= 1;
      }
      if (found === null) return [this.vocab.get(this.unk)];
      ids.push(found);
      start = end;
    }
    return ids;
  }

  /** Text -> token ids with [CLS] and [SEP], truncated to `maxLength`. */
  encode(text) {
    const ids = [];
    // special tokens written in the text stay whole (tokenizers' added tokens), the rest is normalized and split
    const pattern = this.added.length
      ? new RegExp(`(${this.added.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})`)
      : null;
    const parts = pattern ? text.split(pattern) : [text];
    for (const part of parts) {
      if (!part) continue;
      if (this.added.includes(part)) {
        ids.push(this.vocab.get(part));
        continue;
      }
      for (const word of this.preTokenize(this.normalize(part))) ids.push(...this.wordPiece(word));
    }
    return [this.cls, ...ids.slice(0, Math.max(0, this.maxLength - 2)), this.sep];
  }
}

/** The manifest's prompt format, e.g. "<{spoken_language}> <{sign_language}> {text}". */
export function formatPrompt(format, text, spokenLanguage, signLanguage) {
  return format
    .replace("{spoken_language}", spokenLanguage)
    .replace("{sign_language}", signLanguage)
    .replace("{text}", text.trim());
}
