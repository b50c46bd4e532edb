/// The settings a trial's canonical config leaves out while they hold their default, so that
/// trials planned before the setting existed keep their ids. Training writes configs by this
/// table; whatever reads them (filters, comparisons, pruning groups) fills the defaults back in,
/// so `--against pooling=cls` finds the trials that never wrote `pooling`.
public enum OmittedDefaults {
    /// Where φ(x) is read (`Pooling` in Transformer).
    public static let pooling = "cls"
    /// What picks FT's reported epoch (`TrialConfig.FT.Selection`).
    public static let ftSelectBy = "accuracy"

    /// By dotted config path.
    public static let byPath: [String: String] = ["pooling": pooling, "ft.select_by": ftSelectBy]
}
