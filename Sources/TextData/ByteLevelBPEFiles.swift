import Foundation

/// Reading a byte-level BPE from the files Hugging Face ships it in. Only what RoBERTa-family
/// tokenizers use is accepted; anything else is an error naming the file and the setting,
/// rather than a tokenizer that silently differs from the model's.
extension ByteLevelBPETokenizer {
    /// Loads `tokenizer.json` from a model directory, or else `vocab.json` + `merges.txt` (with
    /// `tokenizer_config.json` if present), the order in which `RobertaTokenizerFast` looks.
    public init(modelDirectory: URL) throws {
        let fm = FileManager.default
        let json = modelDirectory.appendingPathComponent("tokenizer.json")
        let vocabulary = modelDirectory.appendingPathComponent("vocab.json"), merges = modelDirectory.appendingPathComponent("merges.txt")
        if fm.fileExists(atPath: json.path) {
            try self.init(tokenizerJSON: json)
        } else if fm.fileExists(atPath: vocabulary.path) && fm.fileExists(atPath: merges.path) {
            let config = modelDirectory.appendingPathComponent("tokenizer_config.json")
            try self.init(vocabularyJSON: vocabulary, merges: merges, tokenizerConfig: fm.fileExists(atPath: config.path) ? config : nil)
        } else {
            throw TextDataError.tokenizer(file: modelDirectory.path, reason: "no byte-level BPE tokenizer: neither tokenizer.json nor vocab.json + merges.txt")
        }
    }

    /// A `tokenizers` file: a BPE model with a ByteLevel pre-tokeniser (the GPT-2 pattern), no
    /// normaliser and RobertaProcessing; its added tokens keep the flags it gives them.
    public init(tokenizerJSON url: URL) throws {
        let file = JSONFile(url)
        let root = try file.object()
        func fail(_ reason: String) -> TextDataError { .tokenizer(file: url.path, reason: reason) }
        guard let model = root["model"] as? [String: Any], model["type"] as? String == "BPE" else {
            throw fail("model type \(String(describing: (root["model"] as? [String: Any])?["type"] ?? "none")) is not BPE")
        }
        if let dropout = model["dropout"] as? Double, dropout > 0 { throw fail("BPE dropout \(dropout) is for training a tokenizer, not for encoding") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = model[key] as? String, !affix.isEmpty { throw fail("\(key) \"\(affix)\" is not byte-level BPE") }
        }
        if model["ignore_merges"] as? Bool == true { throw fail("ignore_merges is not supported") }
        if let normalizer = root["normalizer"] as? [String: Any] {
            throw fail("normalizer \(normalizer["type"] ?? "?") is not supported (byte-level BPE has none)")
        }
        let pre = root["pre_tokenizer"] as? [String: Any]
        guard pre?["type"] as? String == "ByteLevel", pre?["use_regex"] as? Bool ?? true else {
            throw fail("pre_tokenizer must be ByteLevel with use_regex (the GPT-2 pattern)")
        }
        let post = root["post_processor"] as? [String: Any]
        guard post?["type"] as? String == "RobertaProcessing", let cls = (post?["cls"] as? [Any])?.first as? String,
              let sep = (post?["sep"] as? [Any])?.first as? String else {
            throw fail("post_processor must be RobertaProcessing with cls and sep (<s> A </s></s> B </s>)")
        }
        let added = try (root["added_tokens"] as? [[String: Any]] ?? []).map { try Self.addedToken($0, id: $0["id"], file: url.path) }
        try self.init(vocabulary: try file.vocabulary(model["vocab"], key: "model.vocab"), merges: try Self.merges(model["merges"], file: url.path),
                      addedTokens: added, classifier: cls, separator: sep, addsPrefixSpace: pre?["add_prefix_space"] as? Bool ?? false,
                      source: url.path)
    }

    /// `vocab.json` + `merges.txt` as `RobertaTokenizerFast` converts them: the special tokens
    /// named in `tokenizer_config.json` (RoBERTa's by default), with the flags its
    /// `added_tokens_decoder` gives them, else RoBERTa's own (`<mask>` strips the space on its left).
    public init(vocabularyJSON: URL, merges: URL, tokenizerConfig: URL?) throws {
        let vocabFile = JSONFile(vocabularyJSON)
        let vocabulary = try vocabFile.vocabulary(try vocabFile.any(), key: "the file")
        let config = try tokenizerConfig.map { try JSONFile($0).object() } ?? [:]
        func name(_ key: String, _ fallback: String) -> String {
            (config[key] as? String) ?? ((config[key] as? [String: Any])?["content"] as? String) ?? fallback
        }
        let (cls, sep) = (name("cls_token", "<s>"), name("sep_token", "</s>"))
        var added: [AddedToken]
        if let decoder = config["added_tokens_decoder"] as? [String: [String: Any]] {
            added = try decoder.map { try Self.addedToken($1, id: Int($0), file: tokenizerConfig!.path) }.sorted { $0.id < $1.id }
        } else {
            let mask = name("mask_token", "<mask>")
            let names = [name("bos_token", "<s>"), name("pad_token", "<pad>"), name("eos_token", "</s>"), name("unk_token", "<unk>"), cls, sep, mask]
            added = []
            for token in names where !added.contains(where: { $0.content == token }) {
                if let id = vocabulary[token] { added.append(AddedToken(content: token, id: id, leftStrip: token == mask)) }
            }
        }
        guard let text = FileManager.default.contents(atPath: merges.path).flatMap({ String(data: $0, encoding: .utf8) }) else {
            throw TextDataError.tokenizer(file: merges.path, reason: "cannot be read as UTF-8 text")
        }
        var pairs: [(String, String)] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = line.hasSuffix("\r") ? line.dropLast() : line
            if line.isEmpty || (n == 0 && line.hasPrefix("#version")) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw TextDataError.tokenizer(file: "\(merges.path):\(n + 1)", reason: "a merge is two symbols separated by one space") }
            pairs.append((String(parts[0]), String(parts[1])))
        }
        try self.init(vocabulary: vocabulary, merges: pairs, addedTokens: added, classifier: cls, separator: sep,
                      addsPrefixSpace: config["add_prefix_space"] as? Bool ?? false, source: vocabularyJSON.path)
    }

    static func addedToken(_ json: [String: Any], id: Any?, file: String) throws -> AddedToken {
        guard let content = json["content"] as? String, let id = id as? Int, id >= 0 else {
            throw TextDataError.tokenizer(file: file, reason: "an added token needs a content string and a non-negative id")
        }
        return AddedToken(content: content, id: Int32(id), singleWord: json["single_word"] as? Bool ?? false,
                          leftStrip: json["lstrip"] as? Bool ?? false, rightStrip: json["rstrip"] as? Bool ?? false,
                          normalized: json["normalized"] as? Bool ?? false)
    }

    /// Merges as `tokenizers` writes them: "a b" strings (older files) or [a, b] pairs.
    static func merges(_ json: Any?, file: String) throws -> [(String, String)] {
        guard let list = json as? [Any] else { throw TextDataError.tokenizer(file: file, reason: "model.merges is not a list") }
        return try list.enumerated().map { rank, merge in
            if let pair = merge as? [String], pair.count == 2 { return (pair[0], pair[1]) }
            if let line = merge as? String {
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                if parts.count == 2 { return (String(parts[0]), String(parts[1])) }
            }
            throw TextDataError.tokenizer(file: file, reason: "merge \(rank + 1) is neither \"a b\" nor [a, b]")
        }
    }
}

/// A JSON file read for a tokenizer, with errors that name it.
private struct JSONFile {
    let url: URL

    init(_ url: URL) { self.url = url }

    func any() throws -> Any {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TextDataError.tokenizer(file: url.path, reason: "cannot be read")
        }
        do { return try JSONSerialization.jsonObject(with: data) } catch {
            throw TextDataError.tokenizer(file: url.path, reason: "is not valid JSON")
        }
    }

    func object() throws -> [String: Any] {
        guard let object = try any() as? [String: Any] else { throw TextDataError.tokenizer(file: url.path, reason: "is not a JSON object") }
        return object
    }

    /// A { symbol: id } table.
    func vocabulary(_ json: Any?, key: String) throws -> [String: Int32] {
        guard let table = json as? [String: Int], !table.isEmpty, table.values.allSatisfy({ (0...Int(Int32.max)).contains($0) }) else {
            throw TextDataError.tokenizer(file: url.path, reason: "\(key) is not a non-empty { symbol: id } object with non-negative ids")
        }
        return table.mapValues(Int32.init)
    }
}
