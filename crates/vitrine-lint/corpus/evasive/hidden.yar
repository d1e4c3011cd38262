// Logic hidden in private and global rules and string sets. The global
// rule gates every rule of this file (its namespace): they match only
// files that begin with "NOFORN".

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

rule VL302_doc_name_regex
{
    strings:
        $a = /[A-Za-z0-9_]+_(board|minutes)\.docx/
    condition:
        $a
}
