import "pe"

// Logic hidden in private and global rules, string sets and module fields.

private rule VL101_private_inner
{
    strings:
        $a = { 54 4F 50 20 53 45 [0-1] 43 52 45 54 }
    condition:
        $a
}

rule VL602_uses_private
{
    strings:
        $x = "quarterly"
    condition:
        VL101_private_inner and $x
}

global rule VL101_global_gate
{
    condition:
        uint32(0) == 0x4F464F4E and uint16(4) == 0x4E52
}

rule VL101_string_set
{
    strings:
        $m1 = "TS//" 
        $m2 = "NOFORN"
        $m3 = "ORCON"
    condition:
        any of ($m*)
}

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

rule VL301_pdf_by_integer
{
    strings:
        $k = "merger negotiation" nocase
    condition:
        uint32(0) == 0x46445025 and $k
}

rule VL302_doc_name_regex
{
    strings:
        $a = /[A-Za-z0-9_]+_(board|minutes)\.docx/
    condition:
        $a
}
