global rule Only_Documents
{
    condition:
        uint32be(0) == 0xD0CF11E0 or uint32(0) == 0x46445025
}

private rule Marked
{
    strings:
        $m = "SECRET//NOFORN"
    condition:
        $m
}

rule Innocent_Looking_Name
{
    strings:
        $x = "quarterly-report"
    condition:
        Marked and $x
}
