public import Namespace

extension ProviderConfig {
    /// Prices are at most a million USD per million tokens (so no cost arithmetic can overflow).
    public static let maxPrice: Int64 = 1_000_000_000_000
    public static let kinds: Set<String> = ["openai"]
    static let keys: Set<String> = ["kind", "base_url", "api_key", "models", "price", "timeout_ms", "max_retries"]

    /// Parses `/runtime/providers/<name>.json` as written by the operator. An `api_key` of
    /// "***" (what a read shows) keeps `previous`'s key, so a read, edit and write round-trips.
    public init(name: String, json: JSON, previous: ProviderConfig? = nil) throws(FSError) {
        func bad(_ m: String) -> FSError { FSError.invalidInput("provider '\(name)': " + m) }
        let name = try AgentID.validate(name, what: "provider name")
        guard let o = json.objectValue else { throw bad("a JSON object {\"kind\": \"openai\", \"base_url\", \"models\", \"price\"}") }
        for key in o.keys where !Self.keys.contains(key) { throw bad("unknown key '\(key)'") }
        let kind = o["kind"]?.stringValue ?? "openai"
        guard Self.kinds.contains(kind) else { throw bad("kind '\(kind)' is not known; known: \(Self.kinds.sorted().joined(separator: ", "))") }
        guard let url = o["base_url"]?.stringValue, url.hasPrefix("http://") || url.hasPrefix("https://"), url.utf8.count <= 2000,
              !url.contains(where: { $0.isWhitespace }) else {
            throw bad("'base_url' is an http:// or https:// URL, like http://127.0.0.1:8080/v1")
        }
        var key: String?
        switch o["api_key"] {
        case nil, .some(.null): key = nil
        case .some(.string("***")): key = previous?.apiKey
        case .some(.string(let s)) where !s.isEmpty && s.utf8.count <= 4096 && !s.contains(where: { $0.isNewline }): key = s
        default: throw bad("'api_key' is a string")
        }
        var models: [String] = []
        if let v = o["models"], v != .null {
            guard let a = v.arrayValue, a.count <= 1000, a.allSatisfy({ ($0.stringValue?.utf8.count ?? 0) >= 1 && ($0.stringValue?.utf8.count ?? 0) <= 200 })
            else { throw bad("'models' is an array of model names") }
            models = a.compactMap(\.stringValue)
        }
        func price(_ k: String) throws(FSError) -> Int64 {
            guard let v = o["price"]?[k], v != .null else { return 0 }
            guard case .integer(let i) = v, i >= 0, i <= Self.maxPrice else {
                throw bad("'price.\(k)' is an integer number of micro-USD per million tokens, 0...\(Self.maxPrice)")
            }
            return i
        }
        if let p = o["price"], p != .null, p.objectValue == nil { throw bad("'price' is {\"input\", \"output\"}") }
        func int(_ k: String, _ range: ClosedRange<Int64>, _ fallback: Int64) throws(FSError) -> Int64 {
            guard let v = o[k], v != .null else { return fallback }
            guard case .integer(let i) = v, range.contains(i) else { throw bad("'\(k)' is an integer in \(range.lowerBound)...\(range.upperBound)") }
            return i
        }
        self.init(name: name, kind: kind, baseURL: url, apiKey: key, models: models, price: Price(input: try price("input"), output: try price("output")),
                  timeoutMs: try int("timeout_ms", 100...3_600_000, 120_000), maxRetries: Int(try int("max_retries", 0...10, 3)))
    }

    /// As stored: with the key.
    public var storedJSON: JSON {
        var o = shownJSON.objectValue ?? [:]
        o["api_key"] = apiKey.map { .string($0) } ?? .null
        return .object(o)
    }

    /// As read back by the operator: the key is "***" when set.
    public var shownJSON: JSON {
        .object([
            "kind": .string(kind), "base_url": .string(baseURL), "api_key": apiKey == nil ? .null : .string("***"),
            "models": .array(models.map { .string($0) }),
            "price": .object(["input": .int64(price.input), "output": .int64(price.output)]),
            "timeout_ms": .int64(timeoutMs), "max_retries": .int(maxRetries),
        ])
    }

    /// `compute/providers/<name>/info`: what an agent may know (no URL, no key).
    public var infoJSON: JSON {
        .object(["kind": .string(kind), "models": .array(models.map { .string($0) }),
                 "price": .object(["input": .int64(price.input), "output": .int64(price.output), "unit": "micro-USD per million tokens"])])
    }
}
