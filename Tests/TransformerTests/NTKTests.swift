import Compute
import NTK
import Transformer
import XCTest

final class NTKTests: XCTestCase {
    func fixtureBatch() throws -> ([(ids: [Int32], tokenTypeIDs: [Int32])], [String: Any]) {
        let json = try Fixtures.json("tiny-bert-ntk.json")
        let ids = try XCTUnwrap(json["input_ids"] as? [[Int]]), types = try XCTUnwrap(json["token_type_ids"] as? [[Int]])
        let mask = try XCTUnwrap(json["attention_mask"] as? [[Int]])
        // Unpadded rows: padding never changes an example's kernel entries (masked keys get exactly 0).
        let batch = (0..<ids.count).map { i -> (ids: [Int32], tokenTypeIDs: [Int32]) in
            let length = mask[i].reduce(0, +)
            return (ids[i].prefix(length).map(Int32.init), types[i].prefix(length).map(Int32.init))
        }
        return (batch, json)
    }

    func testKernelsMatchPyTorch() throws {
        let (batch, json) = try fixtureBatch()
        let loaded = try Checkpoint.load(directory: try Fixtures.url("tiny-bert"), threads: 2)
        let ntk = try NTKComputer(model: loaded.model, parameters: loaded.parameters).compute(batch)
        XCTAssertEqual(ntk.backwardPasses, 6 * 3)
        // README bound for kernels: relative Frobenius error < 1e-3.
        XCTAssertLessThan(relativeError(ntk.pretrainEffective, flatFloats(json["ntk_pretrain_effective"])), 1e-3)
        XCTAssertLessThan(relativeError(ntk.ftEffective, flatFloats(json["ntk_ft_effective"])), 1e-3)
        XCTAssertLessThan(relativeError(ntk.features, flatFloats(json["features"])), 1e-4)
        // The groups partition F.
        var sum = [Float](repeating: 0, count: ntk.ftEffective.count)
        for (_, k) in ntk.groups { for i in sum.indices { sum[i] += k[i] } }
        XCTAssertEqual(sum, ntk.ftEffective)
        XCTAssertEqual(ntk.groups.map(\.name), ["embeddings.word", "embeddings.other", "layer.0.attention", "layer.0.ffn", "layer.1.attention", "layer.1.ffn"])
    }

    func testASmallBudgetRecomputesButGivesTheSameKernel() throws {
        let (batch, _) = try fixtureBatch()
        let loaded = try Checkpoint.load(directory: try Fixtures.url("tiny-bert"), threads: 1)
        let roomy = try NTKComputer(model: loaded.model, parameters: loaded.parameters).compute(batch)
        // Room for about one layer's feed-forward block (18 rows × ~4.2k parameters) at a time.
        let tight = try NTKComputer(model: loaded.model, parameters: loaded.parameters, memoryBudget: 18 * 4_300 * 4).compute(batch)
        XCTAssertGreaterThan(tight.backwardPasses, roomy.backwardPasses, "recomputed rather than exceeding the budget")
        XCTAssertLessThan(relativeError(tight.ftEffective, roomy.ftEffective), 1e-6)
        XCTAssertThrowsError(try NTKComputer(model: loaded.model, parameters: loaded.parameters, memoryBudget: 1000).compute(batch))
    }
}
