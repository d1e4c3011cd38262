import "pe"

// Markings looked for in the fields a module parses, not in the bytes.

rule VL101_module_field
{
    condition:
        pe.version_info["Comments"] == "TOP SECRET//NOFORN"
}

rule VL101_module_contains
{
    condition:
        pe.version_info["LegalCopyright"] contains "NATO RESTRICTED"
}
