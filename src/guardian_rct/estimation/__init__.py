"""Pure statistics on a panel: ITT models, randomisation inference, IV/CACE, carry-over, displacement, multiplicity, balance, flow and result types. No file or store I/O."""
