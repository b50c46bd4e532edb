import Dispatch
import Foundation
import TextData

/// `lpft bench tokenize`: a model's tokenizer (WordPiece or byte-level BPE) over a fetched
/// task's training texts.
public struct TokenizerBenchmark {
    let tokenizer: any Tokenizer
    let texts: [String]

    /// `count` training texts of `task`, cycled if it has fewer.
    public init(tokenizer: any Tokenizer, task: String, count: Int) throws {
        self.tokenizer = tokenizer
        let examples = try JSONLinesReader().read(try DataStore().task(task).split("train")).examples
        texts = (0..<count).map { examples[$0 % examples.count].text ?? "" }
    }

    /// The tokens of all the texts and the median seconds over `repeats` passes.
    public func run(repeats: Int) -> (tokens: Int, medianSeconds: Double) {
        var seconds: [Double] = []
        var tokens = 0
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            tokens = texts.reduce(0) { $0 + tokenizer.encode($1, maxLength: 128).ids.count }
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        return (tokens, seconds.sorted()[seconds.count / 2])
    }
}
