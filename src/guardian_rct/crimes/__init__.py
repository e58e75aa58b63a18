"""Crime records: the crimes contract, data.police.uk street files, named outcomes and the hotspot x day panel."""
