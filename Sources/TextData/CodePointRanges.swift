extension [ClosedRange<UInt32>] {
    /// Whether `v` falls in one of these sorted, disjoint ranges (binary search): the character
    /// classes generated from `tokenizers` (BertCharacterClasses, ByteLevelCharacterKinds).
    func includes(_ v: UInt32) -> Bool {
        var (low, high) = (0, count)
        while low < high {
            let mid = (low + high) / 2
            if self[mid].upperBound < v { low = mid + 1 } else { high = mid }
        }
        return low < count && self[low].contains(v)
    }
}
